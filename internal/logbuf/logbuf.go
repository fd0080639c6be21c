// Package logbuf is a log destination that many goroutines may write to
// while a test reads what they wrote.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writes and reads.
type Buffer struct {
	// Max, when set, is how much it holds: a write beyond it starts
	// afresh (the access log of a load test, where only the tail matters).
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Max > 0 && b.b.Len() > b.Max {
		b.b.Reset()
	}
	return b.b.Write(p)
}

// String is everything written so far (since the last start afresh).
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
