package db

import (
	"context"
	"sync"
	"testing"
)

// Stmts prepares a query once and answers it from any reader, at once from
// many goroutines; a query that cannot be prepared reports its error.
func TestStmts(t *testing.T) {
	d := openBatchDB(t)
	if _, err := d.Write.Exec(`INSERT INTO batch_t (k, v) VALUES ('a', 7)`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v int
			if err := d.ReadStmts.QueryRow(ctx, `SELECT v FROM batch_t WHERE k = ?`, "a").Scan(&v); err != nil || v != 7 {
				t.Errorf("read %d, %v", v, err)
			}
		}()
	}
	wg.Wait()
	d.ReadStmts.mu.Lock()
	n := len(d.ReadStmts.m)
	d.ReadStmts.mu.Unlock()
	if n != 1 {
		t.Errorf("%d statements kept, want 1", n)
	}
	var v int
	if err := d.ReadStmts.QueryRow(ctx, `SELECT v FROM no_such_table`).Scan(&v); err == nil {
		t.Error("a query on a missing table succeeded")
	}
}
