package db

import (
	"context"
	"database/sql"
	"sync"
)

// Stmts keeps statements prepared on one pool, by their text, so that hot
// queries are parsed once rather than on every call (with modernc.org/sqlite
// a plain QueryRowContext prepares and finalizes each time). database/sql
// prepares a Stmt again on each connection of the pool as it is used.
type Stmts struct {
	DB *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// QueryRow runs query with args as a prepared statement; when it cannot be
// prepared, it runs it unprepared, which reports the error.
func (s *Stmts) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st := s.get(ctx, query)
	if st == nil {
		return s.DB.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *Stmts) get(ctx context.Context, query string) *sql.Stmt {
	s.mu.Lock()
	st := s.m[query]
	s.mu.Unlock()
	if st != nil {
		return st
	}
	st, err := s.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if have := s.m[query]; have != nil {
		st.Close()
		return have
	}
	if s.m == nil {
		s.m = map[string]*sql.Stmt{}
	}
	s.m[query] = st
	return st
}
