package schedule

import "testing"

// BenchmarkStep measures one scheduler step on a target of 10 groups: the
// cost a training loop pays per Step, next to the optimizer's.
func BenchmarkStep(b *testing.B) {
	lrs := make([]float64, 10)
	for i := range lrs {
		lrs[i] = 0.1
	}
	for _, c := range []struct {
		name string
		spec Spec
	}{
		{"CosineAnnealingLR", CosineAnnealingLR{TMax: 1 << 30}},
		{"OneCycleLR", DefaultOneCycleLR(0.1, 1<<30)},
		{"SequentialLR", SequentialLR{Schedulers: []Spec{DefaultLinearLR(), CosineAnnealingLR{TMax: 1 << 30}}, Milestones: []int{5}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := New(newFake(lrs, 0.9), c.spec)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Step(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
