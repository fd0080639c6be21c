package search

import (
	"context"
	"os"
	"strings"
	"testing"
)

func BenchmarkZZOne(b *testing.B) {
	set := openBench(b, 10_000)
	qs := parseMix(b, strings.Split(os.Getenv("ZZQ"), "|"))
	for b.Loop() {
		for _, q := range qs {
			if _, err := set.engine.Search(context.Background(), q); err != nil {
				b.Fatal(err)
			}
		}
	}
}
