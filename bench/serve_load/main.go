// Command serve_load is the HTTP load generator of bench/serve: the same client for every
// server measured. -c workers each loop GET over the URLs (one per line in -urls, taken
// round-robin from a per-worker offset) on keep-alive connections for -d, reading every
// body to the end; prints {"requests","bytes","errors","seconds"} as JSON.
// Build: GO111MODULE=off go build -o <bin> ./bench/serve_load
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	conns := flag.Int("c", 8, "concurrent connections")
	dur := flag.Duration("d", 3*time.Second, "duration")
	urlsFile := flag.String("urls", "", "file of URLs, one per line")
	flag.Parse()
	f, err := os.Open(*urlsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var urls []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() != "" {
			urls = append(urls, sc.Text())
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr}
	var reqs, bytes, errs int64
	deadline := time.Now().Add(*dur)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, 256*1024)
			for i := w; time.Now().Before(deadline); i++ {
				resp, err := client.Get(urls[i%len(urls)])
				if err != nil {
					atomic.AddInt64(&errs, 1)
					continue
				}
				n, _ := io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					atomic.AddInt64(&errs, 1)
					continue
				}
				atomic.AddInt64(&reqs, 1)
				atomic.AddInt64(&bytes, n)
			}
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"requests": reqs, "bytes": bytes, "errors": errs, "seconds": secs,
	})
}
