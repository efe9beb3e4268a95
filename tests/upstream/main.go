// Command upstream is an independent "public" Go checksum database (and GOPROXY file
// server) for modpub's end-to-end tests. It is built on golang.org/x/mod/sumdb's own
// server (sumdb.NewServer with a sumdb.ServerOps implemented here over an in-memory
// tlog), so the protocol side is x/mod's, not modpub's.
//
// At start it reads a GOPROXY file tree (-goproxy DIR, laid out as
// <escaped module>/@v/<escaped version>.{zip,mod,info} plus list), computes the go.sum
// hashes of every version exactly as the go command does (dirhash.HashZip of the zip,
// dirhash.Hash1 of the .mod file as a single file named "go.mod"), and appends one record
//
//	<path> <version> h1:...
//	<path> <version>/go.mod h1:...
//
// per version to the log, sorted by module path and then semver order. It then serves:
//
//	/latest, /lookup/<m>@<v>, /tile/...  the checksum database (sumdb.ServerPaths);
//	/proxy/<escaped module>/@v/...        the GOPROXY tree itself, plain files, so that
//	                                      GOPROXY=http://127.0.0.1:PORT/proxy works.
//
// Everything else is 404, including /proxy/sumdb/<name>/supported: this server does not
// proxy a checksum database through its GOPROXY. (With GOSUMDB="<key> <URL>" the go
// command uses the URL directly and never asks the proxy; with GOSUMDB="<key>" alone it
// would ask, get 404, and go to https://<name>.)
//
// Misbehaviour modes (-mode) for negative tests:
//
//	honest    the default.
//	fork      the tree is built with the LAST record (in the order above) altered: the
//	          h1 of its zip line is replaced by a different, well-formed h1. Signed with
//	          the same key, internally consistent (lookups and proofs agree), but a
//	          client that has seen the honest tree of the same size detects a fork, and
//	          a fresh client sees a checksum mismatch for that module's zip.
//	changed   the tree is honest, but /lookup/ answers return record text whose zip h1
//	          differs from the record in the tree, so the client's inclusion proof fails
//	          (data tiles, /tile/.../data/..., still return the honest records).
//	wrongkey  the honest tree, but tree heads (/latest and the note in /lookup/ answers)
//	          are signed with a freshly generated key of the same name, so they do not
//	          verify with the published verifier key.
//
// Other modes of the program:
//
//	-keygen DIR -name N                       write DIR/signer.key and DIR/verifier.key
//	-makezip <module>@<version> SRCDIR GOPROXYDIR
//	                                          add one version to a GOPROXY tree: the zip
//	                                          made with golang.org/x/mod/zip.CreateFromDir,
//	                                          SRCDIR/go.mod (or "module <path>\n" if
//	                                          absent) as .mod, a .info and an updated list.
//
// Build: cd tests/upstream && GOFLAGS=-mod=readonly go build -o <out> .
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	modzip "golang.org/x/mod/zip"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("upstream: ")

	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	portFile := flag.String("port-file", "", "write the port actually listened on to this file (atomically)")
	keyFile := flag.String("key", "", "signer key file (note.GenerateKey format, PRIVATE+KEY+<name>+...)")
	name := flag.String("name", "upstream.test", "key name for -keygen")
	keygen := flag.String("keygen", "", "generate DIR/signer.key and DIR/verifier.key and exit")
	goproxy := flag.String("goproxy", "", "GOPROXY file tree whose versions are the public modules")
	requests := flag.String("requests", "", "append one line \"<METHOD> <request-URI>\" per HTTP request to this file")
	mode := flag.String("mode", "honest", "honest, fork, changed or wrongkey")
	makezip := flag.Bool("makezip", false, "add <module>@<version> from SRCDIR to GOPROXYDIR (positional arguments) and exit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage:\n"+
			"  upstream -keygen DIR [-name N]\n"+
			"  upstream -makezip <module>@<version> SRCDIR GOPROXYDIR\n"+
			"  upstream -key F -goproxy DIR [-listen ADDR] [-port-file F] [-requests F] [-mode M]\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	switch {
	case *keygen != "":
		if err := doKeygen(*keygen, *name); err != nil {
			log.Fatal(err)
		}
		return
	case *makezip:
		if flag.NArg() != 3 {
			flag.Usage()
			os.Exit(2)
		}
		if err := doMakezip(flag.Arg(0), flag.Arg(1), flag.Arg(2)); err != nil {
			log.Fatal(err)
		}
		return
	}
	if flag.NArg() != 0 || *keyFile == "" || *goproxy == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := serve(*listen, *portFile, *keyFile, *goproxy, *requests, *mode); err != nil {
		log.Fatal(err)
	}
}

// ---------------------------------------------------------------------------------------
// -keygen and -makezip

func doKeygen(dir, name string) error {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "signer.key"), []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "verifier.key"), []byte(vkey+"\n"), 0o644)
}

func doMakezip(modver, srcDir, proxyDir string) error {
	p, v, ok := strings.Cut(modver, "@")
	if !ok {
		return fmt.Errorf("-makezip: want <module>@<version>, got %q", modver)
	}
	m := module.Version{Path: p, Version: v}
	if err := module.Check(m.Path, m.Version); err != nil {
		return err
	}
	escPath, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	escVers, err := module.EscapeVersion(m.Version)
	if err != nil {
		return err
	}
	vdir := filepath.Join(proxyDir, filepath.FromSlash(escPath), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}

	var zbuf bytes.Buffer
	if err := modzip.CreateFromDir(&zbuf, m, srcDir); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(srcDir, "go.mod"))
	if errors.Is(err, fs.ErrNotExist) {
		gomod = []byte("module " + m.Path + "\n")
	} else if err != nil {
		return err
	}
	info := fmt.Sprintf("{\"Version\":%q,\"Time\":\"2020-01-01T00:00:00Z\"}\n", m.Version)

	for ext, data := range map[string][]byte{".zip": zbuf.Bytes(), ".mod": gomod, ".info": []byte(info)} {
		if err := os.WriteFile(filepath.Join(vdir, escVers+ext), data, 0o644); err != nil {
			return err
		}
	}

	// list: the existing versions plus this one, deduplicated, in semver order.
	versions := map[string]bool{m.Version: true}
	if old, err := os.ReadFile(filepath.Join(vdir, "list")); err == nil {
		for _, f := range strings.Fields(string(old)) {
			versions[f] = true
		}
	}
	var list []string
	for v := range versions {
		list = append(list, v)
	}
	sort.Slice(list, func(i, j int) bool { return versionLess(list[i], list[j]) })
	return os.WriteFile(filepath.Join(vdir, "list"), []byte(strings.Join(list, "\n")+"\n"), 0o644)
}

func versionLess(a, b string) bool {
	if c := semver.Compare(a, b); c != 0 {
		return c < 0
	}
	return a < b
}

// ---------------------------------------------------------------------------------------
// Reading the GOPROXY tree into records

// scanProxy returns the record texts for every version in the GOPROXY tree at dir,
// sorted by module path and then version, and the module@version -> index map.
func scanProxy(dir string) ([][]byte, map[string]int64, error) {
	type entry struct {
		m    module.Version
		text []byte
	}
	var entries []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || d.Name() != "@v" {
			return nil
		}
		rel, err := filepath.Rel(dir, filepath.Dir(p))
		if err != nil {
			return err
		}
		modPath, err := module.UnescapePath(filepath.ToSlash(rel))
		if err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		files, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, f := range files {
			have[f.Name()] = true
		}
		for _, f := range files {
			escVers, ok := strings.CutSuffix(f.Name(), ".mod")
			if !ok {
				if escVers, ok := strings.CutSuffix(f.Name(), ".zip"); ok && !have[escVers+".mod"] {
					return fmt.Errorf("%s: %s has no .mod file", p, f.Name())
				}
				continue
			}
			vers, err := module.UnescapeVersion(escVers)
			if err != nil {
				return fmt.Errorf("%s: %v", filepath.Join(p, f.Name()), err)
			}
			if err := module.Check(modPath, vers); err != nil {
				return fmt.Errorf("%s: %v", filepath.Join(p, f.Name()), err)
			}
			if !have[escVers+".zip"] {
				return fmt.Errorf("%s: %s has no .zip file", p, f.Name())
			}
			zipHash, err := dirhash.HashZip(filepath.Join(p, escVers+".zip"), dirhash.DefaultHash)
			if err != nil {
				return err
			}
			gomod, err := os.ReadFile(filepath.Join(p, f.Name()))
			if err != nil {
				return err
			}
			modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(gomod)), nil
			})
			if err != nil {
				return err
			}
			text := fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", modPath, vers, zipHash, modPath, vers, modHash)
			entries = append(entries, entry{module.Version{Path: modPath, Version: vers}, []byte(text)})
		}
		return fs.SkipDir // @v holds no nested modules
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i].m, entries[j].m
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return versionLess(a.Version, b.Version)
	})
	records := make([][]byte, len(entries))
	index := make(map[string]int64, len(entries))
	for i, e := range entries {
		records[i] = e.text
		index[e.m.String()] = int64(i)
	}
	return records, index, nil
}

// alterRecord returns text with the h1 of its first (zip) line replaced by a different,
// well-formed h1 derived from salt and the original text.
func alterRecord(text []byte, salt string) []byte {
	first, rest, _ := bytes.Cut(text, []byte("\n"))
	f := strings.Fields(string(first))
	sum := sha256.Sum256(append([]byte(salt+"\n"), text...))
	f[len(f)-1] = "h1:" + base64.StdEncoding.EncodeToString(sum[:])
	return append([]byte(strings.Join(f, " ")+"\n"), rest...)
}

// ---------------------------------------------------------------------------------------
// sumdb.ServerOps over an in-memory, immutable tlog

type ctxKey struct{}

// lookupCtx marks the context of a /lookup/ request (see ops.ReadRecords, mode changed).
var lookupCtx ctxKey

type ops struct {
	records [][]byte         // record texts, the tree's leaves
	index   map[string]int64 // module@version -> record id
	hashes  []tlog.Hash      // stored hashes, tlog.StoredHashes layout
	signed  []byte           // the signed tree head, computed once
	// lookupText, if set (mode changed), replaces the text of records read for a
	// /lookup/ answer.
	lookupText func([]byte) []byte
}

// notExist is an error for which os.IsNotExist is true, so that sumdb.Server answers
// 404. (os.IsNotExist does not follow fmt.Errorf's %w wrapping, only *fs.PathError and
// friends, so a wrapped fs.ErrNotExist would give 500.)
func notExist(what string) error {
	return &fs.PathError{Op: "lookup", Path: what, Err: fs.ErrNotExist}
}

func newOps(records [][]byte, index map[string]int64, signer note.Signer) (*ops, error) {
	o := &ops{records: records, index: index}
	for i, text := range records {
		hs, err := tlog.StoredHashes(int64(i), text, o)
		if err != nil {
			return nil, err
		}
		o.hashes = append(o.hashes, hs...)
	}
	n := int64(len(records))
	h, err := tlog.TreeHash(n, o)
	if err != nil {
		return nil, err
	}
	o.signed, err = note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: n, Hash: h}))}, signer)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// ReadHashes implements tlog.HashReader.
func (o *ops) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	list := make([]tlog.Hash, 0, len(indexes))
	for _, i := range indexes {
		if i < 0 || i >= int64(len(o.hashes)) {
			return nil, notExist(fmt.Sprintf("hash %d", i))
		}
		list = append(list, o.hashes[i])
	}
	return list, nil
}

func (o *ops) Signed(ctx context.Context) ([]byte, error) { return o.signed, nil }

func (o *ops) ReadRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	if id < 0 || n < 0 || id+n > int64(len(o.records)) {
		return nil, notExist(fmt.Sprintf("records %d+%d", id, n))
	}
	list := make([][]byte, 0, n)
	for i := id; i < id+n; i++ {
		text := o.records[i]
		if o.lookupText != nil && ctx.Value(lookupCtx) != nil {
			text = o.lookupText(text)
		}
		list = append(list, text)
	}
	return list, nil
}

func (o *ops) Lookup(ctx context.Context, m module.Version) (int64, error) {
	id, ok := o.index[m.String()]
	if !ok {
		return 0, notExist(m.String())
	}
	return id, nil
}

func (o *ops) ReadTileData(ctx context.Context, t tlog.Tile) ([]byte, error) {
	return tlog.ReadTileData(t, o)
}

// ---------------------------------------------------------------------------------------
// HTTP

// proxyHandler serves the regular files of the GOPROXY tree at dir under /proxy/.
func proxyHandler(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rel := strings.TrimPrefix(r.URL.Path, "/proxy/")
		if rel == "" || path.Clean("/"+rel) != "/"+rel {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		switch path.Ext(rel) {
		case ".info":
			w.Header().Set("Content-Type", "application/json")
		case ".zip":
			w.Header().Set("Content-Type", "application/zip")
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		http.ServeContent(w, r, "", st.ModTime(), f)
	})
}

// requestLog appends "<METHOD> <request-URI>\n" per request, one write per line.
type requestLog struct {
	mu sync.Mutex
	f  *os.File
}

func (l *requestLog) log(r *http.Request) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteString(r.Method + " " + r.RequestURI + "\n"); err != nil {
		log.Printf("writing request log: %v", err)
	}
}

func readKey(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

func serve(listen, portFile, keyFile, goproxy, requests, mode string) error {
	skey, err := readKey(keyFile)
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return fmt.Errorf("%s: %v", keyFile, err)
	}
	records, index, err := scanProxy(goproxy)
	if err != nil {
		return err
	}

	var lookupText func([]byte) []byte
	switch mode {
	case "honest":
	case "fork":
		if len(records) == 0 {
			return errors.New("-mode fork needs at least one module version in -goproxy")
		}
		last := len(records) - 1
		records[last] = alterRecord(records[last], "fork")
	case "changed":
		lookupText = func(text []byte) []byte { return alterRecord(text, "changed") }
	case "wrongkey":
		other, vkey, err := note.GenerateKey(rand.Reader, signer.Name())
		if err != nil {
			return err
		}
		if signer, err = note.NewSigner(other); err != nil {
			return err
		}
		log.Printf("mode wrongkey: signing with %s", vkey)
	default:
		return fmt.Errorf("unknown -mode %q (want honest, fork, changed or wrongkey)", mode)
	}
	o, err := newOps(records, index, signer)
	if err != nil {
		return err
	}
	o.lookupText = lookupText

	var reqLog *requestLog
	if requests != "" {
		f, err := os.OpenFile(requests, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		reqLog = &requestLog{f: f}
	}

	db := sumdb.NewServer(o)
	proxy := proxyHandler(goproxy)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqLog.log(r)
		switch {
		case strings.HasPrefix(r.URL.Path, "/proxy/"):
			proxy.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/lookup/"):
			db.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), lookupCtx, true)))
		default:
			// /latest and /tile/ (sumdb.ServerPaths); sumdb.Server answers 404 for the rest.
			db.ServeHTTP(w, r)
		}
	})

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if portFile != "" {
		tmp := portFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, portFile); err != nil {
			return err
		}
	}
	log.Printf("mode %s: %d records, listening on %s", mode, len(records), ln.Addr())

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		srv.Close() // Serve returns http.ErrServerClosed: exit status 0
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
