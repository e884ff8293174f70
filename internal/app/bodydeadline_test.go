package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Regression (issue 16, item 7): a body trickled one byte at a time kept an unauthenticated
// request open indefinitely. With a body deadline it ends soon after grace; a handler that is
// slow after reading its body is not cut short; the connection is reusable afterwards.
func TestSlowBodyTimesOut(t *testing.T) {
	const grace = 300 * time.Millisecond
	h := bodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "body read failed", http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/slow" {
			select { // work longer than the body deadline, after the body
			case <-time.After(3 * grace):
			case <-r.Context().Done():
				http.Error(w, "cancelled", http.StatusInternalServerError)
				return
			}
		}
		_, _ = io.WriteString(w, "ok")
	}), grace, 64<<10, grace)
	srv := httptest.NewServer(h)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{")
	// Trickle a byte every 100 ms until the server gives up (or 10 s pass: the old behaviour).
	done := make(chan struct{})
	go func() {
		defer close(done)
		for time.Since(start) < 10*time.Second {
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond) // the attacker's pace, not a wait for a condition
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		res.Body.Close()
	}
	if took := time.Since(start); took > 5*grace {
		t.Fatalf("a trickled body kept the request open for %s (response %v, %v)", took, res, err)
	}
	if err == nil && res.StatusCode == http.StatusOK {
		t.Fatalf("trickled body answered 200")
	}
	conn.Close()
	<-done

	// A normal body, then handler work longer than the deadline, twice on one connection.
	client := srv.Client()
	for i := range 2 {
		res, err := client.Post(srv.URL+"/slow", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d with slow handler work: %d %s", i, res.StatusCode, b)
		}
	}
}
