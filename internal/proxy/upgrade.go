package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/upstream"
	"github.com/floodgate/floodgate/internal/upstream/balance"
)

// Tunnels tracks upgraded connections (WebSocket and other Upgrade
// protocols) so that shutdown can close them after the grace period: once
// hijacked they are no longer the HTTP server's to close.
type Tunnels struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (t *Tunnels) add(cs ...net.Conn) {
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.conns == nil {
		t.conns = make(map[net.Conn]struct{})
	}
	for _, c := range cs {
		t.conns[c] = struct{}{}
	}
	t.mu.Unlock()
}

func (t *Tunnels) remove(cs ...net.Conn) {
	if t == nil {
		return
	}
	t.mu.Lock()
	for _, c := range cs {
		delete(t.conns, c)
	}
	t.mu.Unlock()
}

// Len is the number of open tunnel endpoints (two per tunnel).
func (t *Tunnels) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// CloseAll closes every tunnel.
func (t *Tunnels) CloseAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		c.Close()
	}
}

// serveUpgrade forwards an Upgrade request (WebSocket); on 101 from the
// upstream it hijacks the client connection and copies bytes both ways
// until either side closes. A connect failure is tried on other targets.
// The exchange with the target ends at the 101: a tunnel that lives for
// hours is not a request in flight (hang detection would eject a healthy
// target otherwise).
func (h *Handler) serveUpgrade(x *exchange, proto string) {
	w, r, st, pool := x.w, x.r, x.st, x.pool
	if pool.Protocol() != upstream.HTTP1 {
		h.fail(w, r, st, http.StatusBadGateway, "protocol", "upgrade requests need an http1 upstream")
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		h.fail(w, r, st, http.StatusNotImplemented, "protocol", "upgrade is not possible on this connection")
		return
	}
	if err := x.body.prepare(r, 0); err != nil {
		h.clientBodyError(w, r, st, err)
		return
	}
	ctx := r.Context()
	var skip balance.Skip
	var target *upstream.Target
	var cc *http1.ClientConn
	var resp *http1.Response
	var start time.Time
	for {
		x.attempt++
		start = time.Now()
		target = pool.Pick(r, &skip, start)
		if target == nil {
			if x.attempt == 1 {
				h.fail(w, r, st, http.StatusServiceUnavailable, "no_target", "no healthy upstream target")
			} else {
				x.answerFailure()
			}
			return
		}
		skip.Add(target.ID())
		st.Target = target.Addr
		var err error
		cc, err = pool.H1.Get(ctx, target.H1(), start)
		if err == nil {
			if resp, err = h.send(cc, x, proto); err != nil {
				cc.Close()
			}
		}
		if err == nil {
			break
		}
		k := classify(err, ctx)
		pool.Done(target, outcomeOf(k), k.kind, 0, time.Now())
		var de *http1.DialError
		if x.failed(target, k, err, errors.As(err, &de)) != resRetry || x.attempt >= h.cfg.Retry.Attempts {
			x.answerFailure()
			return
		}
	}
	ttfb := max(time.Since(start), time.Nanosecond) // > 0: the head arrived
	target.Progress(time.Now())
	if resp.Status != http.StatusSwitchingProtocols {
		// The upstream declined the upgrade: an ordinary response.
		h.relayH1(x, target, cc, resp, watchCancel(w, ctx, cc), ttfb)
		return
	}
	pool.Done(target, upstream.Success, "", ttfb, time.Now())
	x.ok = true
	var upProto string
	for _, f := range resp.Headers {
		if f.Name == "Upgrade" {
			upProto = f.Value
		}
	}
	if !http1.HeaderHasToken(http.Header{"X": {upProto}}, "X", proto) {
		cc.Close()
		x.ok = false
		h.fail(w, r, st, http.StatusBadGateway, "protocol", "upstream switched to a protocol the client did not ask for")
		return
	}
	// Build the 101 head for the client before hijacking (the upstream's
	// headers minus hop-by-hop ones, plus the handshake pair).
	hdr := w.Header()
	copyResponseHeaders(hdr, resp.Headers, heapCopies{})
	if !h.cfg.ResponseHeaders.Empty() {
		h.cfg.ResponseHeaders.Apply(hdr)
	}
	head := []byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n")
	head = http1.AppendHeaderLine(head, "Upgrade", upProto)
	for k, vs := range hdr {
		for _, v := range vs {
			head = http1.AppendHeaderLine(head, k, v)
		}
	}
	head = append(head, '\r', '\n')
	upBuffered := append([]byte(nil), cc.Buffered()...)
	upConn := cc.Detach()

	clientConn, brw, err := hj.Hijack()
	if err != nil {
		upConn.Close()
		st.ErrKind = "hijack"
		return
	}
	// The status is now 101 for logs and metrics.
	if sw, ok := w.(interface{ SetStatus(int) }); ok {
		sw.SetStatus(http.StatusSwitchingProtocols)
	}
	if _, err := clientConn.Write(head); err != nil {
		clientConn.Close()
		upConn.Close()
		return
	}
	h.cfg.Tunnels.add(clientConn, upConn)
	defer h.cfg.Tunnels.remove(clientConn, upConn)
	tunnel(clientConn, brw.Reader, upConn, upBuffered)
}

// tunnel copies client→upstream and upstream→client until both directions
// end. When one direction ends its destination is half-closed so the peer
// sees EOF; a hard error closes both.
func tunnel(client net.Conn, clientR io.Reader, up net.Conn, upBuffered []byte) {
	done := make(chan struct{}, 2)
	go func() {
		_, err := io.Copy(up, clientR)
		halfClose(up, err)
		done <- struct{}{}
	}()
	go func() {
		var err error
		if len(upBuffered) > 0 {
			_, err = client.Write(upBuffered)
		}
		if err == nil {
			_, err = io.Copy(client, up)
		}
		halfClose(client, err)
		done <- struct{}{}
	}()
	<-done
	// Give the other direction a moment to drain after a clean half-close,
	// then cut it.
	t := time.NewTimer(30 * time.Second)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	client.Close()
	up.Close()
}

func halfClose(c net.Conn, err error) {
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.Close()
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	c.Close()
}
