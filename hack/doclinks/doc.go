// Package doclinks holds the test that keeps the repository's Markdown documentation linked up:
// every relative link in README.md, docs/*.md and the repository's other Markdown files must name a
// file or directory of the repository, and every #anchor a heading of the page it points to. It
// runs in `make test` (go test ./...).
package doclinks
