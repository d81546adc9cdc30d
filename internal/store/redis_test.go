package store_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/store"
	"github.com/floodgate/floodgate/internal/store/storetest"
)

func newRedis(t *testing.T, addr, prefix string) *store.Redis {
	t.Helper()
	r, err := store.NewRedis(store.RedisOptions{Addr: addr, KeyPrefix: prefix, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRedis(t *testing.T) {
	addr := storetest.StartRedis(t)
	ctx := context.Background()

	t.Run("basics", func(t *testing.T) {
		r := newRedis(t, addr, "basics:")
		if err := r.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		v, ok, err := r.Get(ctx, "k")
		if err != nil || !ok || string(v) != "v" {
			t.Fatalf("Get = %q %v %v", v, ok, err)
		}
		if _, ok, err := r.Get(ctx, "nope"); ok || err != nil {
			t.Fatalf("Get(missing) = %v %v", ok, err)
		}
		if err := r.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := r.Get(ctx, "k"); ok {
			t.Fatal("deleted key still there")
		}
		if err := r.Delete(ctx, "k"); err != nil {
			t.Fatalf("Delete(missing): %v", err)
		}
		if err := r.Set(ctx, "k", []byte("v"), -1); err == nil {
			t.Fatal("negative ttl accepted")
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, _, err := r.Get(ctx, "k"); err != store.ErrClosed {
			t.Fatalf("Get after Close: %v", err)
		}
	})

	t.Run("ttl", func(t *testing.T) {
		r := newRedis(t, addr, "ttl:")
		if err := r.Set(ctx, "short", []byte("x"), 150*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := r.Set(ctx, "forever", []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
		if err := r.Set(ctx, "sub-ms", []byte("z"), 100*time.Microsecond); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := r.Get(ctx, "short"); !ok {
			t.Fatal("short entry gone at once")
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			_, ok, err := r.Get(ctx, "short")
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("entry did not expire")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, ok, _ := r.Get(ctx, "forever"); !ok {
			t.Fatal("ttl 0 entry gone")
		}
		if _, ok, _ := r.Get(ctx, "sub-ms"); ok {
			t.Fatal("sub-millisecond ttl did not expire (rounded to no expiry?)")
		}
	})

	t.Run("shared between clients, prefixes isolate", func(t *testing.T) {
		a := newRedis(t, addr, "app:")
		b := newRedis(t, addr, "app:")
		other := newRedis(t, addr, "other:")
		if err := a.Set(ctx, "k", []byte("from-a"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := b.Get(ctx, "k"); !ok || string(v) != "from-a" {
			t.Fatalf("b sees %q %v", v, ok)
		}
		if _, ok, _ := other.Get(ctx, "k"); ok {
			t.Fatal("a different prefix sees the key")
		}
		if err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := a.Get(ctx, "k"); ok {
			t.Fatal("delete through b not seen by a")
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		r := newRedis(t, addr, "conc:")
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					k := fmt.Sprintf("g%d-%d", g, i)
					if err := r.Set(ctx, k, []byte(k), time.Minute); err != nil {
						t.Error(err)
						return
					}
					if v, ok, err := r.Get(ctx, k); err != nil || !ok || string(v) != k {
						t.Errorf("Get(%s) = %q %v %v", k, v, ok, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

func TestNewRedisUnreachable(t *testing.T) {
	// A port nobody listens on: NewRedis must fail at once with a clear
	// error, not on first use.
	_, err := store.NewRedis(store.RedisOptions{Addr: "127.0.0.1:1", DialTimeout: 500 * time.Millisecond, Password: "s3cret-pw"})
	if err == nil {
		t.Fatal("NewRedis to a closed port succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "127.0.0.1:1") || !strings.Contains(msg, "ping") {
		t.Fatalf("unclear error: %v", err)
	}
	if strings.Contains(msg, "s3cret-pw") {
		t.Fatalf("error reveals the password: %v", err)
	}
	if _, err := store.NewRedis(store.RedisOptions{}); err == nil {
		t.Fatal("NewRedis without an address succeeded")
	}
}

func TestRedisPassword(t *testing.T) {
	addr := storetest.StartRedis(t)
	setRequirePass(t, addr, "right-pw")
	good, err := store.NewRedis(store.RedisOptions{Addr: addr, Password: "right-pw", DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("NewRedis with the right password: %v", err)
	}
	defer good.Close()
	if err := good.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = store.NewRedis(store.RedisOptions{Addr: addr, Password: "wrong-pw", DialTimeout: time.Second})
	if err == nil {
		t.Fatal("NewRedis with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("error reveals the password: %v", err)
	}
	t.Log(err)
}

// setRequirePass sets a password on the test server with a raw CONFIG SET
// (the store API has no admin commands).
func setRequirePass(t *testing.T, addr, pw string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("CONFIG SET requirepass " + pw + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("CONFIG SET requirepass: %q %v", line, err)
	}
}
