// Ops for golang.org/x/mod/sumdb/note, golang.org/x/mod/sumdb/tlog and the checksum
// database client golang.org/x/mod/sumdb (see main.go for the protocol), used by
// tests/oracle/sumdb_diff_test.cpp.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// memTiles serves tiles given by the caller (path -> data); a missing tile is an error.
type memTiles struct {
	tiles map[string][]byte
}

func (m *memTiles) Height() int { return 8 }
func (m *memTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		d, ok := m.tiles[t.Path()]
		if !ok {
			return nil, fmt.Errorf("tile %s not provided", t.Path())
		}
		out[i] = d
	}
	return out, nil
}
func (m *memTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// storedHashes computes x/mod's stored hashes for records.
func storedHashes(records [][]byte) (tlog.HashReaderFunc, error) {
	var hashes []tlog.Hash
	for i, r := range records {
		h, err := tlog.StoredHashes(int64(i), r, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				out[j] = hashes[x]
			}
			return out, nil
		}))
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, h...)
	}
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			if x < 0 || x >= int64(len(hashes)) {
				return nil, fmt.Errorf("stored hash %d out of range", x)
			}
			out[j] = hashes[x]
		}
		return out, nil
	}), nil
}

func init() {
	register("note.NewVerifier", func(a [][]byte) string {
		v, err := note.NewVerifier(arg(a, 0))
		if err != nil {
			return "err:" + err.Error()
		}
		return fmt.Sprintf("ok:%s+%08x", v.Name(), v.KeyHash())
	})
	register("note.NewSigner", func(a [][]byte) string {
		s, err := note.NewSigner(arg(a, 0))
		if err != nil {
			return "err:" + err.Error()
		}
		return fmt.Sprintf("ok:%s+%08x", s.Name(), s.KeyHash())
	})
	// note.Sign(text, signer key) -> signed note.
	register("note.Sign", func(a [][]byte) string {
		s, err := note.NewSigner(arg(a, 1))
		if err != nil {
			return "err:" + err.Error()
		}
		msg, err := note.Sign(&note.Note{Text: arg(a, 0)}, s)
		return valueResult(string(msg), err)
	})
	// note.Open(msg, verifier key) -> text.
	register("note.Open", func(a [][]byte) string {
		v, err := note.NewVerifier(arg(a, 1))
		if err != nil {
			return "err:" + err.Error()
		}
		n, err := note.Open(a[0], note.VerifierList(v))
		if err != nil {
			return "err:" + err.Error()
		}
		return "ok:" + n.Text
	})

	// tlog.ParseTilePath -> "ok:H/L/N/W" or "err".
	register("tlog.ParseTilePath", func(a [][]byte) string {
		t, err := tlog.ParseTilePath(arg(a, 0))
		if err != nil {
			return "err"
		}
		return fmt.Sprintf("ok:%d/%d/%d/%d", t.H, t.L, t.N, t.W)
	})
	register("tlog.RecordHash", func(a [][]byte) string {
		h := tlog.RecordHash(a[0])
		return hex.EncodeToString(h[:])
	})
	// tlog.TreeHash of the records given as arguments -> base64 hash.
	register("tlog.TreeHash", func(a [][]byte) string {
		r, err := storedHashes(a)
		if err != nil {
			return "err:" + err.Error()
		}
		h, err := tlog.TreeHash(int64(len(a)), r)
		return valueResult(h.String(), err)
	})
	// tlog.Proofs: args t, n, then the records of a tree (at least t of them) ->
	// "<record proof>|<tree proof>", each the base64 hashes joined by ",": ProveRecord(t, n)
	// (n < t) and ProveTree(t, n+1) of the tree of the first t records.
	register("tlog.Proofs", func(a [][]byte) string {
		var t, n int64
		if _, err := fmt.Sscan(string(a[0]), &t); err != nil {
			return "err:" + err.Error()
		}
		if _, err := fmt.Sscan(string(a[1]), &n); err != nil {
			return "err:" + err.Error()
		}
		r, err := storedHashes(a[2:])
		if err != nil {
			return "err:" + err.Error()
		}
		join := func(hs []tlog.Hash) string {
			var out []string
			for _, h := range hs {
				out = append(out, h.String())
			}
			return strings.Join(out, ",")
		}
		rp, err := tlog.ProveRecord(t, n, r)
		if err != nil {
			return "err:" + err.Error()
		}
		tp, err := tlog.ProveTree(t, n+1, r)
		if err != nil {
			return "err:" + err.Error()
		}
		return join(rp) + "|" + join(tp)
	})
	// tlog.Tiles: the tiles (height 8) of the tree of the records given, as
	// "<path> <hex data>\n" lines, in no particular order: every complete tile and every
	// width an incomplete tile has had as the tree grew, each hash tile followed by its
	// data tile in sumdb's format (FormatRecord(id, text) concatenated). They are listed
	// by growing the tree one record at a time, which names the same set whichever x/mod
	// answers: NewTiles(8, 0, n) of x/mod 0.7.0 names every width, newer versions only
	// the last.
	register("tlog.Tiles", func(a [][]byte) string {
		r, err := storedHashes(a)
		if err != nil {
			return "err:" + err.Error()
		}
		var tiles []tlog.Tile
		seen := map[tlog.Tile]bool{}
		n := int64(len(a))
		for k := int64(1); k <= n; k++ {
			for _, t := range tlog.NewTiles(8, k-1, k) {
				full := n>>(8*uint(t.L)) >= (t.N+1)<<8
				if t.W < 1<<8 && full {
					continue // a partial width of a tile now complete: the full one serves
				}
				if !seen[t] {
					seen[t] = true
					tiles = append(tiles, t)
				}
			}
		}
		var b strings.Builder
		for _, t := range tiles {
			d, err := tlog.ReadTileData(t, r)
			if err != nil {
				return "err:" + err.Error()
			}
			fmt.Fprintf(&b, "%s %s\n", t.Path(), hex.EncodeToString(d))
			if t.L == 0 {
				dt := t
				dt.L = -1
				var data []byte
				for i := 0; i < t.W; i++ {
					id := t.N<<8 + int64(i)
					msg, err := tlog.FormatRecord(id, a[id])
					if err != nil {
						return "err:" + err.Error()
					}
					data = append(data, msg...)
				}
				fmt.Fprintf(&b, "%s %s\n", dt.Path(), hex.EncodeToString(data))
			}
		}
		return b.String()
	})
	// sumdb.VerifyLog(vkey, signed tree head, old size, old tree hash (base64), k, k
	// records, then tile path/data pairs): what a go client checks, using only the tiles
	// given: the head's signature and format, each record's inclusion proof, and the
	// consistency proof from the old tree to the head. "ok" or the first failure.
	register("sumdb.VerifyLog", func(a [][]byte) string {
		v, err := note.NewVerifier(arg(a, 0))
		if err != nil {
			return "err:verifier: " + err.Error()
		}
		n, err := note.Open(a[1], note.VerifierList(v))
		if err != nil {
			return "err:open head: " + err.Error()
		}
		tree, err := tlog.ParseTree([]byte(n.Text))
		if err != nil {
			return "err:parse head: " + err.Error()
		}
		oldN, _ := strconv.ParseInt(arg(a, 2), 10, 64)
		oldHashB, _ := base64.StdEncoding.DecodeString(arg(a, 3))
		k, _ := strconv.Atoi(arg(a, 4))
		records := a[5 : 5+k]
		if int64(k) != tree.N {
			return fmt.Sprintf("err:head has %d records, %d given", tree.N, k)
		}
		m := &memTiles{tiles: map[string][]byte{}}
		for i := 5 + k; i+1 < len(a); i += 2 {
			m.tiles[string(a[i])] = a[i+1]
		}
		thr := tlog.TileHashReader(tree, m)
		for i, r := range records {
			p, err := tlog.ProveRecord(tree.N, int64(i), thr)
			if err != nil {
				return fmt.Sprintf("err:prove record %d: %v", i, err)
			}
			if err := tlog.CheckRecord(p, tree.N, tree.Hash, int64(i), tlog.RecordHash(r)); err != nil {
				return fmt.Sprintf("err:check record %d: %v", i, err)
			}
			// The data tile holding the record carries it in sumdb's format.
			dt := tlog.Tile{H: 8, L: -1, N: int64(i) >> 8, W: 0}
			dt.W = int(tree.N - dt.N<<8)
			if dt.W > 256 {
				dt.W = 256
			}
			if d, ok := m.tiles[dt.Path()]; ok {
				want, _ := tlog.FormatRecord(int64(i), r)
				if !bytes.Contains(d, want) {
					return fmt.Sprintf("err:data tile %s lacks record %d", dt.Path(), i)
				}
			}
		}
		if oldN > 0 && oldN <= tree.N {
			var oldHash tlog.Hash
			copy(oldHash[:], oldHashB)
			p, err := tlog.ProveTree(tree.N, oldN, thr)
			if err != nil {
				return fmt.Sprintf("err:prove tree %d->%d: %v", oldN, tree.N, err)
			}
			if err := tlog.CheckTree(p, tree.N, tree.Hash, oldN, oldHash); err != nil {
				return fmt.Sprintf("err:check tree %d->%d: %v", oldN, tree.N, err)
			}
		}
		return "ok"
	})
}

// dirClientOps is the outside world of a sumdb.Client, as the go command gives it one,
// except that the "server" is a directory of static files: ReadRemote("/lookup/...")
// reads <dir>/lookup/..., as a web server over a copy of the bucket would serve it. The
// configuration ("key", "<name>/latest") and the cache live in memory. It records what
// the client asked for in vain and the messages it logged. Safe for concurrent use (the
// client reads tiles in parallel). Only methods that x/mod 0.7.0 and the current x/mod
// both declare in ClientOps.
type dirClientOps struct {
	mu       sync.Mutex
	dir      string
	key      []byte
	config   map[string][]byte
	cache    map[string][]byte
	missing  []string // remote paths not found (or unreadable)
	logs     []string
	security []string
}

func (o *dirClientOps) setDir(dir string) {
	o.mu.Lock()
	o.dir = dir
	o.mu.Unlock()
}

func (o *dirClientOps) ReadRemote(path string) ([]byte, error) {
	o.mu.Lock()
	dir := o.dir
	o.mu.Unlock()
	bad := !strings.HasPrefix(path, "/") || strings.Contains(path, "\\")
	for _, elem := range strings.Split(path, "/") {
		bad = bad || elem == ".."
	}
	if bad {
		return nil, fmt.Errorf("%s: 400 Bad Request", path)
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path)))
	if err != nil {
		o.mu.Lock()
		o.missing = append(o.missing, path)
		o.mu.Unlock()
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: 404 Not Found", path)
		}
		return nil, err
	}
	return data, nil
}

func (o *dirClientOps) ReadConfig(file string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if file == "key" {
		return append([]byte(nil), o.key...), nil
	}
	if strings.HasSuffix(file, "/latest") {
		return append([]byte(nil), o.config[file]...), nil // absent: empty, a fresh client
	}
	return nil, fmt.Errorf("unknown config file %q", file)
}

func (o *dirClientOps) WriteConfig(file string, old, new []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if file == "key" {
		return errors.New("cannot write key")
	}
	if !bytes.Equal(o.config[file], old) {
		return sumdb.ErrWriteConflict
	}
	o.config[file] = append([]byte(nil), new...)
	return nil
}

func (o *dirClientOps) ReadCache(file string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	data, ok := o.cache[file]
	if !ok {
		return nil, os.ErrNotExist
	}
	return append([]byte(nil), data...), nil
}

func (o *dirClientOps) WriteCache(file string, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cache[file] = append([]byte(nil), data...)
}

func (o *dirClientOps) Log(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.logs = append(o.logs, msg)
}

func (o *dirClientOps) SecurityError(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.security = append(o.security, msg)
}

// clientLookup asks a sumdb.Client for the go.sum lines of path@version: both lines,
// "<path> <version> h1:..." and "<path> <version>/go.mod h1:...", each ending in "\n",
// in the order given, or the first error.
func clientLookup(c *sumdb.Client, item string) string {
	at := strings.LastIndex(item, "@")
	if at < 0 {
		return "err:oracle: no @ in " + item
	}
	path, vers := item[:at], item[at+1:]
	var b strings.Builder
	for _, v := range []string{vers, vers + "/go.mod"} {
		lines, err := c.Lookup(path, v)
		if err != nil {
			return "err:" + err.Error()
		}
		for _, l := range lines {
			b.WriteString(l)
			b.WriteString("\n")
		}
	}
	return "ok:" + b.String()
}

func init() {
	// sumdb.ClientLookup(vkey, initial latest, dir, item...): one sumdb.Client, as the go
	// command runs it against GOSUMDB="<vkey> <url>", where <url> serves the files of dir
	// (see dirClientOps). "initial latest" is the client's "<name>/latest" configuration
	// at the start: "" for a client that has seen no tree yet, or a signed tree head it
	// knows from before (e.g. the database's own "latest"), which every lookup must then be
	// consistent with. Each item is "path@version", looked up (both go.sum lines), or
	// "dir:<dir2>", from which point the server serves dir2 instead (the database grown,
	// or another one: a fork under the same key).
	// The result is one line per item, then four more, each line hex-encoded: a lookup
	// answers "ok:<go.sum lines>" or "err:<message>", a switch "dir"; then
	// "latest:<the client's latest configuration at the end>", "missing:<remote paths
	// requested but absent, sorted, space-separated>", "security:<SecurityError messages,
	// separated by \x00>", "log:<Log messages, separated by \x00>".
	register("sumdb.ClientLookup", func(a [][]byte) string {
		ops := &dirClientOps{
			dir:    arg(a, 2),
			key:    []byte(arg(a, 0)),
			config: map[string][]byte{},
			cache:  map[string][]byte{},
		}
		if v, err := note.NewVerifier(arg(a, 0)); err == nil && len(arg(a, 1)) > 0 {
			ops.config[v.Name()+"/latest"] = []byte(arg(a, 1))
		}
		client := sumdb.NewClient(ops)
		var out []string
		for i := 3; i < len(a); i++ {
			item := string(a[i])
			if strings.HasPrefix(item, "dir:") {
				ops.setDir(strings.TrimPrefix(item, "dir:"))
				out = append(out, "dir")
				continue
			}
			out = append(out, clientLookup(client, item))
		}
		ops.mu.Lock()
		var latest []byte
		if v, err := note.NewVerifier(arg(a, 0)); err == nil {
			latest = ops.config[v.Name()+"/latest"]
		}
		missing := append([]string(nil), ops.missing...)
		sort.Strings(missing)
		out = append(out, "latest:"+string(latest),
			"missing:"+strings.Join(missing, " "),
			"security:"+strings.Join(ops.security, "\x00"),
			"log:"+strings.Join(ops.logs, "\x00"))
		ops.mu.Unlock()
		for i := range out {
			out[i] = hex.EncodeToString([]byte(out[i]))
		}
		return strings.Join(out, "\n")
	})
}
