package directory

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/secondchancekc/secondchance/data"
)

// LoadTaxonomies upserts the embedded taxonomies (Open Eligibility and our
// reentry facts) so that categories and attributes always resolve. Unchanged
// terms are left alone, so this is cheap at every start.
func (s *Store) LoadTaxonomies(ctx context.Context) (*ImportResult, error) {
	sub, err := fs.Sub(data.FS, "taxonomy")
	if err != nil {
		return nil, err
	}
	return s.Import(ctx, FSSource("data/taxonomy", sub), ImportOptions{Actor: "secondchance (embedded taxonomy)"})
}

// LoadDemo imports the embedded demo directory when the directory holds no
// services yet, and reports whether it did.
func (s *Store) LoadDemo(ctx context.Context) (bool, *ImportResult, error) {
	var n int
	if err := s.db.Read.QueryRowContext(ctx, "SELECT COUNT(*) FROM service").Scan(&n); err != nil {
		return false, nil, err
	}
	if n > 0 {
		return false, nil, nil
	}
	const name = "demo/services.ndjson"
	st, err := fs.Stat(data.FS, name)
	if err != nil {
		return false, nil, err
	}
	src := ReaderSource("data/"+name, st.Size(), func() (io.ReadCloser, error) { return data.FS.Open(name) })
	res, err := s.Import(ctx, src, ImportOptions{Actor: "secondchance (demo data)"})
	if err != nil {
		return false, res, fmt.Errorf("load demo directory: %w", err)
	}
	return true, res, nil
}
