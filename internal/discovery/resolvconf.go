package discovery

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"os"
	"strings"
)

// fallbackResolver is used when resolv.conf names no usable nameserver, as
// the C library and Go's own resolver do.
const fallbackResolver = "127.0.0.1:53"

// systemResolver returns the first nameserver of the resolv.conf at path as
// host:port.
func systemResolver(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fallbackResolver
	}
	return parseResolvConf(data)
}

// parseResolvConf returns the first "nameserver" entry of a resolv.conf.
// Only that keyword matters here: search domains and ndots do not apply to
// the fully qualified names discovery resolves.
func parseResolvConf(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if addr, err := netip.ParseAddr(f[1]); err == nil {
			return net.JoinHostPort(addr.String(), "53")
		}
	}
	return fallbackResolver
}
