package schedule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MarshalJSON encodes the scheduler's State: a Scheduler is saved as JSON
// so (optim.Training saves its Schedulers so).
func (s *Scheduler) MarshalJSON() ([]byte, error) {
	if s.root == nil {
		return nil, errors.New("schedule: MarshalJSON of a Scheduler not made by New")
	}
	return json.Marshal(s.State())
}

// UnmarshalJSON restores a State that MarshalJSON encoded, as Restore does:
// into a scheduler built from the same Spec, and, on error, with nothing
// changed. Fields that State does not have are an error.
func (s *Scheduler) UnmarshalJSON(b []byte) error {
	if s.root == nil {
		return errors.New("schedule: UnmarshalJSON needs a Scheduler made by New, from the saved one's Spec")
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("schedule: decoding a State: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("schedule: decoding a State: data after the JSON object")
	}
	return s.Restore(st)
}
