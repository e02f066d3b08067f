package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMedianRun(t *testing.T) {
	run := func(bare, innkeeper float64) Run { return Run{BareSeconds: bare, InnkeeperSeconds: innkeeper} }
	tests := []struct {
		name string
		runs []Run
		want Run
	}{
		{name: "none", want: Run{}},
		{name: "one", runs: []Run{run(10, 11)}, want: run(10, 11)},
		{name: "odd: the middle ratio, not the middle time", runs: []Run{run(10, 20), run(100, 105), run(20, 22)}, want: run(20, 22)},
		{name: "even: the higher middle one", runs: []Run{run(10, 10), run(10, 12), run(10, 11), run(10, 13)}, want: run(10, 12)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := medianRun(tt.runs); got != tt.want {
				t.Errorf("medianRun() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRunRatioAndLag(t *testing.T) {
	r := Run{BareSeconds: 40, InnkeeperSeconds: 44, LastNodeSeconds: 43.5}
	if r.Ratio() != 1.1 {
		t.Errorf("Ratio() = %v, want 1.1", r.Ratio())
	}
	if r.ReadyLag() != 0.5 {
		t.Errorf("ReadyLag() = %v, want 0.5", r.ReadyLag())
	}
	if (Run{InnkeeperSeconds: 1}).Ratio() != 0 {
		t.Error("a run without a bare time has a ratio")
	}
}

func TestArrivals(t *testing.T) {
	a := newArrivals()
	clock := time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC)
	a.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	a.observe("n1", "new") // before arm: ignored
	if a.count() != 0 {
		t.Fatal("an arrival before arm was recorded")
	}
	start := a.arm("old")
	a.observe("n1", "old")
	a.observe("n2", "")
	if _, ok := a.last(1); ok {
		t.Fatal("the old value or none counted as an arrival")
	}
	a.observe("n1", "new")
	first, _ := a.last(1)
	a.observe("n1", "newer") // the first arrival of a Node stays
	a.observe("n2", "new")
	if _, ok := a.last(3); ok {
		t.Fatal("last(3) with 2 arrivals")
	}
	last, ok := a.last(2)
	if !ok || !last.After(first) || !first.After(start) {
		t.Errorf("last(2) = %v, %v; first %v, start %v", last, ok, first, start)
	}
	if got, _ := a.last(1); !got.Equal(last) {
		t.Errorf("last(1) = %v, want the latest arrival %v", got, last)
	}
	a.arm("new")
	if a.count() != 0 {
		t.Error("arm kept the arrivals of the change before")
	}
}

func TestPrintResults(t *testing.T) {
	res := Results{ApplyTimeSeconds: 2, MaxUnavailable: "10%", Runs: 1, Sizes: []Size{
		{Nodes: 100, MaxChanging: 10, Rollouts: []Run{{BareSeconds: 30, InnkeeperSeconds: 33, LastNodeSeconds: 32.5}},
			Median: Run{BareSeconds: 30, InnkeeperSeconds: 33, LastNodeSeconds: 32.5}},
		{Nodes: 1000, MaxChanging: 100, Rollouts: []Run{{BareSeconds: 100, InnkeeperSeconds: 130, LastNodeSeconds: 128}},
			Median: Run{BareSeconds: 100, InnkeeperSeconds: 130, LastNodeSeconds: 128}},
	}}
	var out bytes.Buffer
	printResults(&out, res)
	lines := strings.Split(out.String(), "\n")
	var summary []string
	for _, l := range lines {
		if strings.Contains(l, "×") && strings.Contains(l, "≤") {
			summary = append(summary, strings.Join(strings.Fields(l), " "))
		}
	}
	want := []string{
		"100 1.10× ≤ 1.15× met 0.50 s ≤ 1.0 s met 0.0 s",
		"1000 1.30× ≤ 1.15× MISSED 2.00 s ≤ 1.0 s MISSED 0.0 s",
	}
	if strings.Join(summary, "\n") != strings.Join(want, "\n") {
		t.Errorf("summary rows:\n%s\nwant:\n%s\nin:\n%s", strings.Join(summary, "\n"), strings.Join(want, "\n"), out.String())
	}
}
