package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openBatchDB(t *testing.T) *DB {
	t.Helper()
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Write.Exec(`CREATE TABLE batch_t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return d
}

func insertJob(k string, v int) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO batch_t (k, v) VALUES (?, ?)`, k, v)
		return err
	}
}

// rowOf reads k through a reader: what Do promised committed must be
// visible to another connection the moment Do returns.
func rowOf(t *testing.T, d *DB, k string) (int, bool) {
	t.Helper()
	var v int
	err := d.Read.QueryRow(`SELECT v FROM batch_t WHERE k = ?`, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false
	} else if err != nil {
		t.Error(err)
	}
	return v, true
}

// Many callers at once: each one's write is committed when its Do returns,
// and they share far fewer commits than there were jobs.
func TestBatcherConcurrent(t *testing.T) {
	d := openBatchDB(t)
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprint("k", i)
			if err := d.Batch.Do(context.Background(), insertJob(k, i)); err != nil {
				t.Errorf("job %d: %v", i, err)
				return
			}
			if v, ok := rowOf(t, d, k); !ok || v != i {
				t.Errorf("job %d: Do returned but the row reads %d, %v", i, v, ok)
			}
		}()
	}
	wg.Wait()
	var count int
	d.Read.QueryRow(`SELECT COUNT(*) FROM batch_t`).Scan(&count)
	if count != n {
		t.Fatalf("%d rows, want %d", count, n)
	}
	if j, b := d.Batch.Jobs.Load(), d.Batch.Batches.Load(); j != n || b >= n {
		t.Errorf("%d jobs in %d commits: want %d jobs in fewer commits", j, b, n)
	}
	t.Logf("%d jobs in %d commits", d.Batch.Jobs.Load(), d.Batch.Batches.Load())
}

// A job that fails (its own error, an SQL error after it wrote, a panic)
// loses only its own work; the jobs batched with it commit.
func TestBatcherFailingJobAmongGood(t *testing.T) {
	d := openBatchDB(t)
	if err := d.Batch.Do(context.Background(), insertJob("dup", 0)); err != nil {
		t.Fatal(err)
	}
	// Hold the writer so that everything below queues into one batch.
	hold, release := make(chan struct{}), make(chan struct{})
	go d.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		close(hold)
		<-release
		return nil
	})
	<-hold
	mine := errors.New("mine")
	type res struct {
		k   string
		err error
	}
	jobs := map[string]func(context.Context, *sql.Tx) error{
		"good1": insertJob("good1", 1),
		"own-error": func(ctx context.Context, tx *sql.Tx) error {
			insertJob("own-error", 2)(ctx, tx)
			return mine
		},
		"sql-error": func(ctx context.Context, tx *sql.Tx) error {
			if err := insertJob("sql-error", 3)(ctx, tx); err != nil {
				return err
			}
			return insertJob("dup", 3)(ctx, tx) // UNIQUE violation
		},
		"panic": func(ctx context.Context, tx *sql.Tx) error {
			insertJob("panic", 4)(ctx, tx)
			panic("boom")
		},
		"good2": insertJob("good2", 5),
	}
	out := make(chan res, len(jobs))
	for k, fn := range jobs {
		go func() { out <- res{k, d.Batch.Do(context.Background(), fn)} }()
	}
	waitQueued(t, d.Batch, len(jobs))
	close(release)
	got := map[string]error{}
	for range jobs {
		r := <-out
		got[r.k] = r.err
	}
	if b := d.Batch.Batches.Load(); b != 3 {
		t.Errorf("%d commits, want 3 (dup, the holder, the rest together)", b)
	}
	if got["good1"] != nil || got["good2"] != nil {
		t.Errorf("good jobs failed: %v, %v", got["good1"], got["good2"])
	}
	if !errors.Is(got["own-error"], mine) {
		t.Errorf("own-error returned %v", got["own-error"])
	}
	if got["sql-error"] == nil || got["panic"] == nil {
		t.Errorf("sql-error returned %v, panic returned %v", got["sql-error"], got["panic"])
	}
	for k, want := range map[string]bool{"good1": true, "good2": true, "dup": true, "own-error": false, "sql-error": false, "panic": false} {
		if _, ok := rowOf(t, d, k); ok != want {
			t.Errorf("row %s present %v, want %v", k, ok, want)
		}
	}
}

// A job that breaks the shared transaction itself (here by ending it)
// makes the batch fall back to one transaction per job: the others still
// commit, and only it fails.
func TestBatcherBrokenBatchFallsBackToOneByOne(t *testing.T) {
	d := openBatchDB(t)
	hold, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- d.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			close(hold)
			<-release
			return insertJob("first", 1)(ctx, tx)
		})
	}()
	<-hold
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 3 {
				errs[i] = d.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
					insertJob("rogue", 9)(ctx, tx)
					_, err := tx.ExecContext(ctx, `ROLLBACK`)
					return err
				})
				return
			}
			errs[i] = d.Batch.Do(context.Background(), insertJob(fmt.Sprint("j", i), i))
		}()
	}
	waitQueued(t, d.Batch, 6)
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if i == 3 {
			if err == nil {
				t.Error("the job that ended the transaction reported success")
			}
			continue
		}
		if err != nil {
			t.Errorf("job %d: %v", i, err)
		}
		if _, ok := rowOf(t, d, fmt.Sprint("j", i)); !ok {
			t.Errorf("job %d: row missing", i)
		}
	}
	if _, ok := rowOf(t, d, "rogue"); ok {
		t.Error("the rogue job's row was committed")
	}
	// The batcher still works afterwards.
	if err := d.Batch.Do(context.Background(), insertJob("after", 1)); err != nil {
		t.Fatal(err)
	}
}

// waitQueued waits until n jobs are queued behind the running batch.
func waitQueued(t *testing.T, b *Batcher, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A caller whose context ends while its job waits gets ctx.Err() and the
// job never runs; once the job has started, cancelling changes nothing:
// Do waits and reports the commit.
func TestBatcherCancel(t *testing.T) {
	d := openBatchDB(t)
	hold, release := make(chan struct{}), make(chan struct{})
	ctx1, cancel1 := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		first <- d.Batch.Do(ctx1, func(ctx context.Context, tx *sql.Tx) error {
			close(hold)
			<-release
			if ctx.Err() != nil {
				return errors.New("the job's context was cancelled")
			}
			return insertJob("started", 1)(ctx, tx)
		})
	}()
	<-hold
	var ran atomic.Bool
	ctx2, cancel2 := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		second <- d.Batch.Do(ctx2, func(ctx context.Context, tx *sql.Tx) error {
			ran.Store(true)
			return insertJob("queued", 2)(ctx, tx)
		})
	}()
	waitQueued(t, d.Batch, 1)
	cancel1() // started: no effect
	cancel2() // queued: dropped
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("queued job cancelled: Do returned %v, want context.Canceled", err)
	}
	select {
	case err := <-first:
		t.Fatalf("Do of a running job returned (%v) before its commit", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("started job: %v", err)
	}
	if _, ok := rowOf(t, d, "started"); !ok {
		t.Error("the started job's row is missing")
	}
	if ran.Load() {
		t.Error("the cancelled job ran")
	}
	if _, ok := rowOf(t, d, "queued"); ok {
		t.Error("the cancelled job's row was written")
	}
	// A context already done never queues.
	if err := d.Batch.Do(ctx2, insertJob("late", 3)); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: %v", err)
	}
}

// Do inside a job would wait for the writer its own batch holds: it fails
// at once instead.
func TestBatcherNested(t *testing.T) {
	d := openBatchDB(t)
	var inner error
	err := d.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		inner = d.Batch.Do(ctx, insertJob("inner", 1))
		return insertJob("outer", 1)(ctx, tx)
	})
	if err != nil || !errors.Is(inner, ErrNested) {
		t.Fatalf("outer %v, inner %v (want nil, ErrNested)", err, inner)
	}
}

// Direct users of Write and the batcher share the one connection without
// deadlock, and Max bounds a batch.
func TestBatcherWithDirectWritersAndMax(t *testing.T) {
	d := openBatchDB(t)
	d.Batch.Max = 4
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprint("m", i)
			var err error
			if i%5 == 0 {
				_, err = d.Write.Exec(`INSERT INTO batch_t (k, v) VALUES (?, ?)`, k, i)
			} else {
				err = d.Batch.Do(context.Background(), insertJob(k, i))
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var count int
	d.Read.QueryRow(`SELECT COUNT(*) FROM batch_t`).Scan(&count)
	if count != 100 {
		t.Fatalf("%d rows, want 100", count)
	}
	if j, b := d.Batch.Jobs.Load(), d.Batch.Batches.Load(); b*4 < j {
		t.Errorf("%d jobs in %d batches with Max 4", j, b)
	}
}

// Exec and QueryRow run a query unprepared the first time and prepared on
// the writer afterwards, with the same results, in good and failing jobs.
func TestBatcherPreparedStatements(t *testing.T) {
	d := openBatchDB(t)
	const ins = `INSERT INTO batch_t (k, v) VALUES (?, ?)`
	const sel = `SELECT v FROM batch_t WHERE k = ?`
	for i := range 5 {
		var got int
		err := d.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			if _, err := d.Batch.Exec(ctx, tx, ins, fmt.Sprint("p", i), i); err != nil {
				return err
			}
			return d.Batch.QueryRow(ctx, tx, sel, fmt.Sprint("p", i)).Scan(&got)
		})
		if err != nil || got != i {
			t.Fatalf("round %d: %v, read %d", i, err, got)
		}
		// A failing use of the same statement loses only its own row.
		err = d.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			_, err := d.Batch.Exec(ctx, tx, ins, fmt.Sprint("p", i), 0) // duplicate key
			return err
		})
		if err == nil {
			t.Fatalf("round %d: duplicate insert succeeded", i)
		}
	}
	d.Batch.smu.Lock()
	prepared := d.Batch.stmts[ins] != nil && d.Batch.stmts[sel] != nil && d.Batch.stmts[`SAVEPOINT job`] != nil
	d.Batch.smu.Unlock()
	if !prepared {
		t.Error("statements were not prepared after their first use")
	}
	// A query that cannot be prepared keeps failing as itself, and is not
	// prepared again.
	for range 2 {
		err := d.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			_, err := d.Batch.Exec(ctx, tx, `INSERT INTO no_such_table VALUES (1)`)
			return err
		})
		if err == nil {
			t.Fatal("insert into a missing table succeeded")
		}
	}
	var n int
	d.Read.QueryRow(`SELECT COUNT(*) FROM batch_t WHERE k LIKE 'p%'`).Scan(&n)
	if n != 5 {
		t.Errorf("%d rows, want 5", n)
	}
}

// Later's jobs wait while Do's are queued and never share their batch: a
// request's answer does not wait for background work queued before it.
func TestBatcherLater(t *testing.T) {
	d := openBatchDB(t)
	// With the writer idle, a Later job runs at once.
	if err := d.Batch.Later(context.Background(), insertJob("idle", 1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := rowOf(t, d, "idle"); !ok {
		t.Fatal("Later returned before its row was committed")
	}

	var mu sync.Mutex
	var order []string
	job := func(k string) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			mu.Lock()
			order = append(order, k)
			mu.Unlock()
			return insertJob(k, 1)(ctx, tx)
		}
	}
	hold, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := d.Batch.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			close(hold)
			<-release
			return job("held")(ctx, tx)
		})
		if err != nil {
			t.Error(err)
		}
	}()
	<-hold
	before := d.Batch.Batches.Load()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := d.Batch.Later(context.Background(), job("later")); err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.Batch.mu.Lock()
		n := len(d.Batch.later)
		d.Batch.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Later job never queued")
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Batch.Do(context.Background(), job(fmt.Sprint("do", i))); err != nil {
				t.Error(err)
			}
		}()
	}
	waitQueued(t, d.Batch, 3)
	close(release)
	wg.Wait()
	if len(order) != 5 || order[0] != "held" || order[4] != "later" {
		t.Errorf("jobs ran in the order %v: want held, the three Do jobs, then later", order)
	}
	if n := d.Batch.Batches.Load() - before; n != 3 {
		t.Errorf("%d batches, want 3 (the held job, the Do jobs queued behind it, the Later job alone)", n)
	}
}
