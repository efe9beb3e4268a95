// Ops for golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (see main.go for
// the protocol), used by tests/oracle/sumdb_diff_test.cpp.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

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
