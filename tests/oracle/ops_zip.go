// Ops for whole module zips (see main.go for the protocol): x/mod's own zip writer and
// zip checker, the reference that modpub's zips are measured and checked against
// (bench/zip, tests/e2e/test_zip_vectors.py).
//
//	zip.createdir <dir> <module path> <version> <out zip>
//	        zip.Create over every non-directory entry below <dir> (walked in lexical
//	        order; symlinks and other files are handed over as such, so zip.Create's own
//	        rules omit them), written to <out zip>, then dirhash.HashZip(<out zip>,
//	        dirhash.Hash1): "ok:<h1>" or "err:<message>". This is the work the go command
//	        does after `git archive` has extracted a module's files.
//	zip.checkzip <zip> <module path> <version>
//	        zip.CheckZip over an existing module zip, then dirhash.HashZip:
//	        "ok:<h1>" when x/mod accepts the zip, else "err:<CheckZip's error>".
package main

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/zip"
)

func init() {
	register("zip.createdir", opCreateDir)
	register("zip.checkzip", opCheckZip)
}

// dirFile is a zip.File for a file below the walked directory.
type dirFile struct {
	rel  string // slash-separated, relative to the directory
	full string
}

func (f dirFile) Path() string                 { return f.rel }
func (f dirFile) Lstat() (fs.FileInfo, error)  { return os.Lstat(f.full) }
func (f dirFile) Open() (io.ReadCloser, error) { return os.Open(f.full) }

func opCreateDir(a [][]byte) string {
	dir, out := arg(a, 0), arg(a, 3)
	m := module.Version{Path: arg(a, 1), Version: arg(a, 2)}
	var files []zip.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, dirFile{rel: filepath.ToSlash(rel), full: p})
		return nil
	})
	if err != nil {
		return "err:" + err.Error()
	}
	w, err := os.Create(out)
	if err != nil {
		return "err:" + err.Error()
	}
	if err := zip.Create(w, m, files); err != nil {
		w.Close()
		return "err:" + err.Error()
	}
	if err := w.Close(); err != nil {
		return "err:" + err.Error()
	}
	return valueResult(dirhash.HashZip(out, dirhash.Hash1))
}

func opCheckZip(a [][]byte) string {
	zipFile := arg(a, 0)
	m := module.Version{Path: arg(a, 1), Version: arg(a, 2)}
	if _, err := zip.CheckZip(m, zipFile); err != nil {
		return "err:" + err.Error()
	}
	return valueResult(dirhash.HashZip(zipFile, dirhash.Hash1))
}
