package main

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestTrainResumeIsUninterrupted runs the training run twice, once
// uninterrupted and once saved to a file and resumed halfway, and wants
// the same bits: the weights, the EMA's and every epoch's row.
func TestTrainResumeIsUninterrupted(t *testing.T) {
	c := trainConfig{epochs: 4, batch: 50, hidden: 8, lr: 0.1}
	var whole, resumed bytes.Buffer
	want, err := train(&whole, c)
	if err != nil {
		t.Fatal(err)
	}
	c.resumeAt = 2
	got, err := train(&resumed, c)
	if err != nil {
		t.Fatal(err)
	}
	sameBits := func(a, b [][]float32) bool {
		return slices.EqualFunc(a, b, func(x, y []float32) bool {
			return slices.EqualFunc(x, y, func(u, v float32) bool { return math.Float32bits(u) == math.Float32bits(v) })
		})
	}
	if !sameBits(got.weights, want.weights) {
		t.Error("the resumed run's weights differ from the uninterrupted run's")
	}
	if !sameBits(got.ema, want.ema) {
		t.Error("the resumed run's EMA differs from the uninterrupted run's")
	}
	if sameBits(got.weights, got.ema) {
		t.Error("the EMA equals the weights: it averages nothing")
	}
	checkpoint := "  checkpoint: "
	if strings.Contains(whole.String(), checkpoint) {
		t.Errorf("the uninterrupted run prints a checkpoint:\n%s", whole.String())
	}
	if !strings.Contains(resumed.String(), checkpoint+"the weights by name") || !strings.Contains(resumed.String(), "resumed at epoch 2, batch 60, step 60") {
		t.Errorf("the resumed run does not report its checkpoint at epoch 2:\n%s", resumed.String())
	}
	var rows []string
	for _, line := range strings.SplitAfter(resumed.String(), "\n") {
		if !strings.HasPrefix(line, checkpoint) {
			rows = append(rows, line)
		}
	}
	if strings.Join(rows, "") != whole.String() {
		t.Errorf("the rows differ:\nuninterrupted:\n%s\nresumed:\n%s", whole.String(), resumed.String())
	}
	for _, col := range []string{"EMA loss", "EMA acc", "clipped", `GradOf("fc1.weight")`} {
		if !strings.Contains(whole.String(), col) {
			t.Errorf("output lacks %q:\n%s", col, whole.String())
		}
	}
}
