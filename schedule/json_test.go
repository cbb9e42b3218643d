package schedule

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSchedulerJSON: a Scheduler marshals to its State and unmarshals by
// Restore, continuing bit for bit; UnmarshalJSON refuses unknown fields,
// data after the object, a State of another spec and a Scheduler not made
// by New, and changes nothing then.
func TestSchedulerJSON(t *testing.T) {
	spec := DefaultOneCycleLR(0.1, 20)
	a, err := New(newFake([]float64{0.1, 0.2}, 0.9), spec)
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if err := a.Step(); err != nil {
			t.Fatal(err)
		}
	}
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	fb := newFake([]float64{0.5, 0.5}, 0.5)
	b, err := New(fb, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, b); err != nil {
		t.Fatal(err)
	}
	for k := range 5 {
		if err := a.Step(); err != nil {
			t.Fatal(err)
		}
		if err := b.Step(); err != nil {
			t.Fatal(err)
		}
		if la, lb := a.LastLR(), b.LastLR(); la[0] != lb[0] || la[1] != lb[1] {
			t.Fatalf("step %d after the restore: %v, want %v", k, lb, la)
		}
	}
	other, err := New(newFake([]float64{0.1, 0.2}, 0.9), DefaultStepLR(3))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(b)
	for _, c := range []struct {
		name string
		s    *Scheduler
		js   string
		want string
	}{
		{"unknown field", b, strings.Replace(string(js), `{`, `{"epoch":3,`, 1), "unknown field"},
		{"data after the object", b, string(js) + "{}", "data after the JSON object"},
		{"another spec", other, string(js), `state is for "OneCycleLR"`},
		{"a zero Scheduler", new(Scheduler), string(js), "made by New"},
	} {
		err := c.s.UnmarshalJSON([]byte(c.js))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error that mentions %q", c.name, err, c.want)
		}
	}
	if after, _ := json.Marshal(b); string(after) != string(before) {
		t.Error("a refused UnmarshalJSON changed the scheduler")
	}
	if _, err := new(Scheduler).MarshalJSON(); err == nil {
		t.Error("MarshalJSON of a zero Scheduler: no error")
	}
}
