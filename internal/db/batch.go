package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Batcher commits small write transactions from concurrent requests
// together: the jobs waiting when the writer comes free run one after
// another in one SQLite transaction, each inside its own SAVEPOINT, and
// are committed with one fsync (group commit). With synchronous=FULL each
// commit costs a disk sync, so fifty webhooks arriving at once wait for
// one or two syncs instead of fifty.
//
// The promise to each caller of Do is the one of its own transaction: when
// Do returns nil, the job's writes are committed and durable; when it
// returns an error, none of them are. A job whose fn fails is rolled back
// to its savepoint alone and the other jobs of the batch commit. When the
// batch as a whole cannot commit (the disk is full, say), every job in it
// is run again in a transaction of its own, so one job cannot lose the
// others' work.
//
// There is no timer and no background worker: the first caller to find the
// writer idle runs the batch (its own job and whatever queued meanwhile);
// jobs that queue while a batch commits form the next one.
//
// Work that nobody is waiting for (planning a referral's follow-ups after
// the webhook has answered) goes through Later: its jobs run in batches of
// their own, only when no Do job is queued, so they never lengthen a batch
// that requests wait for.
type Batcher struct {
	// DB is the single-connection writer pool.
	DB *sql.DB
	// Max caps the jobs in one transaction (0 is 128), so one batch cannot
	// hold the writer for long.
	Max int

	mu      sync.Mutex
	queue   []*job
	later   []*job // Later's jobs: run when queue is empty
	running bool

	// stmts are statements prepared once on the writer connection, for
	// Exec and QueryRow; want are those asked for and not yet prepared
	// (a job cannot prepare on the pool: the batch holds its connection).
	smu   sync.Mutex
	stmts map[string]*sql.Stmt
	want  map[string]bool
	bad   map[string]bool // did not prepare; run unprepared

	// Batches and Jobs count committed batches and the jobs they carried,
	// for tests and benchmarks.
	Batches, Jobs atomic.Int64
}

// Job states: a job is taken by the batch runner or cancelled by its
// caller, never both.
const (
	jobQueued int32 = iota
	jobTaken
	jobCancelled
)

type job struct {
	ctx   context.Context
	fn    func(ctx context.Context, tx *sql.Tx) error
	state atomic.Int32
	err   error
	done  chan struct{}
}

// inBatchKey marks the context a job runs with, so that a nested Do (which
// would wait forever for the writer its own batch holds) fails instead.
type inBatchKey struct{}

// ErrNested is returned by Do when called from inside a job.
var ErrNested = errors.New("db: Batcher.Do called from inside a batched job (it would wait for itself)")

// NewBatcher returns a Batcher over the writer pool w.
func NewBatcher(w *sql.DB) *Batcher { return &Batcher{DB: w} }

// Do runs fn in a write transaction, probably shared with other callers'
// jobs, and returns once that transaction has committed (nil) or fn's work
// has been rolled back (fn's error, or the commit's).
//
// fn must:
//   - touch the database only through tx: the writer connection is held by
//     the batch, so using DB.Write (or calling Do) inside fn deadlocks
//     (a nested Do returns ErrNested);
//   - not depend on other jobs: it may see their uncommitted writes, but
//     never knows which jobs share its batch;
//   - have no effect outside tx (no sending, no shared state): fn may run a
//     second time, alone, when its batch could not commit, so it should
//     set its results afresh each run;
//   - be short: every job in the batch waits for it.
//
// fn runs with a context that is never cancelled (cancelling a statement
// inside a shared transaction would roll back everyone's work), carrying
// ctx's values. If ctx ends while the job is still queued, Do returns
// ctx.Err() and fn never runs; once it has started, Do waits for the
// commit.
func (b *Batcher) Do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return b.do(ctx, fn, false)
}

// Later is Do for background work that no request waits for: its job
// waits while Do jobs are queued and runs in a batch of Later jobs only,
// so it never lengthens a batch whose callers are waiting to answer. The
// writer is idle often enough that it waits for milliseconds; under a
// load that never lets the writer rest it waits until the load eases.
// The promises of Do hold: nil means committed.
func (b *Batcher) Later(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return b.do(ctx, fn, true)
}

func (b *Batcher) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error, later bool) error {
	if ctx.Value(inBatchKey{}) != nil {
		return ErrNested
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{ctx: ctx, fn: fn, done: make(chan struct{})}
	b.mu.Lock()
	if later {
		b.later = append(b.later, j)
	} else {
		b.queue = append(b.queue, j)
	}
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		// Run the batch that holds our job here (no hand-off to another
		// goroutine when the writer is idle); later batches run elsewhere.
		b.runOne()
		b.next()
	}
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobCancelled) {
			return ctx.Err()
		}
		<-j.done // taken: its outcome is decided by the commit
		return j.err
	}
}

// next starts the following batch if jobs queued meanwhile, or marks the
// writer idle.
func (b *Batcher) next() {
	if !b.more() {
		return
	}
	go func() {
		for {
			b.runOne()
			if !b.more() {
				return
			}
		}
	}()
}

// more reports whether jobs are queued; when none are, it marks the
// writer idle in the same step, so that the next Do runs its own batch.
func (b *Batcher) more() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 && len(b.later) == 0 {
		b.running = false
		return false
	}
	return true
}

// runOne takes up to Max queued jobs (Do's; Later's when none of Do's
// wait) and runs them as one batch.
func (b *Batcher) runOne() {
	max := b.Max
	if max <= 0 {
		max = 128
	}
	b.mu.Lock()
	q := &b.queue
	if len(b.queue) == 0 {
		q = &b.later
	}
	n := min(len(*q), max)
	taken := make([]*job, 0, n)
	for _, j := range (*q)[:n] {
		if j.state.CompareAndSwap(jobQueued, jobTaken) {
			taken = append(taken, j)
		}
	}
	rest := (*q)[n:]
	*q = append(make([]*job, 0, len(rest)), rest...)
	b.mu.Unlock()
	if len(taken) == 0 {
		return
	}
	defer b.prepareWanted()
	if err := b.batch(taken); err != nil {
		// The shared transaction failed as a whole: give each job its own
		// transaction, so that one cannot take the others down.
		for _, j := range taken {
			j.err = b.alone(j)
		}
	}
	for _, j := range taken {
		close(j.done)
	}
}

// batch runs jobs in one transaction, each in a savepoint, and commits.
// It sets each job's error; a non-nil return means the transaction did
// not commit and no job's work was kept.
func (b *Batcher) batch(jobs []*job) error {
	bg := context.Background()
	tx, err := b.DB.BeginTx(bg, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, j := range jobs {
		if _, err := b.Exec(bg, tx, `SAVEPOINT job`); err != nil {
			return err
		}
		j.err = run(j, tx)
		if j.err != nil {
			if _, err := b.Exec(bg, tx, `ROLLBACK TO job`); err != nil {
				// SQLite may have rolled back the whole transaction
				// itself (an I/O error, say): start again one by one.
				return err
			}
		}
		if _, err := b.Exec(bg, tx, `RELEASE job`); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	b.Batches.Add(1)
	b.Jobs.Add(int64(len(jobs)))
	return nil
}

// alone runs one job in a transaction of its own.
func (b *Batcher) alone(j *job) error {
	tx, err := b.DB.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := run(j, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	b.Batches.Add(1)
	b.Jobs.Add(1)
	return nil
}

// run calls the job's fn, turning a panic into that job's error so the
// rest of the batch is not lost with it.
func run(j *job, tx *sql.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("db: batched job panicked: %v", r)
		}
	}()
	return j.fn(context.WithValue(context.WithoutCancel(j.ctx), inBatchKey{}, true), tx)
}

// Exec runs query on tx (a job's) as a statement prepared once on the
// writer connection: SQLite's parser costs more than most of the small
// writes a webhook does, and every job holds the writer while it runs.
// The first use of a query runs it unprepared and has it prepared after
// the batch.
func (b *Batcher) Exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := b.stmt(query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// QueryRow is Exec for a query of one row.
func (b *Batcher) QueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := b.stmt(query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

func (b *Batcher) stmt(query string) *sql.Stmt {
	b.smu.Lock()
	defer b.smu.Unlock()
	if st := b.stmts[query]; st != nil || b.bad[query] {
		return st
	}
	if b.want == nil {
		b.want = map[string]bool{}
	}
	b.want[query] = true
	return nil
}

// prepareWanted prepares, between batches, the statements jobs asked for.
// A statement that does not prepare is not asked for again.
func (b *Batcher) prepareWanted() {
	b.smu.Lock()
	var qs []string
	for q := range b.want {
		qs = append(qs, q)
	}
	clear(b.want)
	b.smu.Unlock()
	for _, q := range qs {
		st, err := b.DB.PrepareContext(context.Background(), q)
		b.smu.Lock()
		if b.stmts == nil {
			b.stmts, b.bad = map[string]*sql.Stmt{}, map[string]bool{}
		}
		if err != nil {
			b.bad[q] = true
		} else if b.stmts[q] == nil {
			b.stmts[q] = st
		} else {
			st.Close()
		}
		b.smu.Unlock()
	}
}

// Tx is a job's transaction whose statements run prepared once on the
// writer connection (see Exec): pass it where a job's helpers take an
// interface of ExecContext, QueryContext and QueryRowContext.
type Tx struct {
	*sql.Tx
	b *Batcher
}

// Prepared wraps tx, a job's transaction.
func (b *Batcher) Prepared(tx *sql.Tx) Tx { return Tx{Tx: tx, b: b} }

// ExecContext is Batcher.Exec.
func (t Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.b.Exec(ctx, t.Tx, query, args...)
}

// QueryRowContext is Batcher.QueryRow.
func (t Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.b.QueryRow(ctx, t.Tx, query, args...)
}

// QueryContext runs a query of many rows prepared, as Exec does.
func (t Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.b.stmt(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}
