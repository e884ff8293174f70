// Command clawchat-bench measures what clawchat costs between an OpenClaw Gateway and browsers,
// side by side with a direct connection, on this machine over loopback. See docs/benchmarks.md.
//
//	clawchat-bench [-quick] [-out docs/benchmarks.md] [-json results.json] [-clawchat ./bin/clawchat]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/clawchat/clawchat/cmd/clawchat-bench/bench"
)

func main() {
	if bench.IsGatewayChild() { // the fake Gateway runs in a child process of the benchmark
		os.Exit(bench.GatewayChildMain())
	}
	os.Exit(run())
}

func run() int {
	var (
		quick   = flag.Bool("quick", false, "a few-second smoke run with small sizes (no timing assertions)")
		out     = flag.String("out", "", "write the results into this Markdown document (between its result markers)")
		jsonOut = flag.String("json", "", "write the results as JSON to this file")
		bin     = flag.String("clawchat", "", "prebuilt clawchat binary (default: go build ./cmd/clawchat)")
		clients = flag.Int("clients", 0, "browser clients in the latency/throughput phases (default 1000, quick 40)")
		cpuprof = flag.String("cpuprofile", "", "write a CPU profile of the benchmark process (fake Gateway and clients)")
		verbose = flag.Bool("v", true, "progress on stderr")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := bench.FullConfig()
	if *quick {
		cfg = bench.QuickConfig()
	}
	if *clients > 0 {
		cfg.Clients = *clients
	}
	cfg.Binary = *bin
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "clawchat-bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "clawchat-bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clawchat-bench:", err)
		return 1
	}
	fmt.Print(rep.Markdown())
	if *jsonOut != "" {
		b, err := rep.JSON()
		if err == nil {
			err = os.WriteFile(*jsonOut, b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "clawchat-bench:", err)
			return 1
		}
	}
	if *out != "" {
		if err := bench.WriteDoc(*out, rep); err != nil {
			fmt.Fprintln(os.Stderr, "clawchat-bench:", err)
			return 1
		}
	}
	return 0
}
