// Package data holds the files the binary carries with it: the HSDS
// datapackage descriptors, the taxonomies, the demo directory and the ZIP code
// centroids. Each folder's README says where its contents came from and under
// which licence.
package data

import "embed"

// FS is every embedded data file, by its path under data/.
//
//go:embed hsds geo taxonomy demo search
var FS embed.FS
