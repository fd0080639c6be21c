package search

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Lock takes the index folder for this process (the server, or a reindex
// run) so that two processes never write it at once. It fails at once,
// naming the likely holder, when another process has it.
func (e *Engine) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(e.opt.Dir), 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(e.opt.Dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("the search index %s is in use by another secondchance process (is `secondchance serve` running? it rebuilds the index itself when needed; stop it to rebuild by hand)", e.opt.Dir)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
