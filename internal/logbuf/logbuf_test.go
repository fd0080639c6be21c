package logbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "line\n"); n != 800 {
		t.Errorf("%d lines of 800", n)
	}
}

func TestBufferMax(t *testing.T) {
	b := Buffer{Max: 10}
	b.Write([]byte("0123456789ab"))
	b.Write([]byte("tail"))
	if got := b.String(); got != "tail" {
		t.Errorf("after passing Max: %q, want only the tail", got)
	}
}
