package arm64

import (
	"errors"

	"github.com/simdoptim/optim/asm/internal/rules"
)

// step is one instruction of one copy of the body. Unrolled loops run
// several copies, each on its own vector of elements, interleaved
// instruction by instruction so that independent work overlaps.
type step struct {
	in   rules.Instr
	copy int
}

// placed is a step with its vector registers: d receives the result, a and
// b hold the operands and t is a scratch register (OpMaxNaN only).
type placed struct {
	step
	d, a, b, t int
}

// numVRegs is the number of vector registers, V0 to V31.
const numVRegs = 32

var errRegisters = errors.New("arm64: out of vector registers")

type slot struct {
	copy int
	v    rules.Value
}

// place assigns registers to steps by a linear scan over the straight-line
// code: a value holds its register from its definition to its last use.
// Coefficients are not steps: coeffReg gives the register that holds each
// coefficient value, broadcast once before the loop; the other registers
// are free for the body. The lowest free register is always taken, so the
// output is deterministic.
func place(steps []step, coeffReg map[rules.Value]int) ([]placed, error) {
	var free [numVRegs]bool
	for r := range free {
		free[r] = true
	}
	for _, r := range coeffReg {
		free[r] = false
	}
	last := map[slot]int{}
	for i, s := range steps {
		for _, v := range s.in.Operands() {
			if _, isCoeff := coeffReg[v]; !isCoeff {
				last[slot{s.copy, v}] = i
			}
		}
	}
	reg := map[slot]int{}
	get := func() (int, error) {
		for r := range free {
			if free[r] {
				free[r] = false
				return r, nil
			}
		}
		return 0, errRegisters
	}
	read := func(s step, v rules.Value) int {
		if r, ok := coeffReg[v]; ok {
			return r
		}
		return reg[slot{s.copy, v}]
	}
	release := func(i int, s step) {
		for _, v := range s.in.Operands() {
			sl := slot{s.copy, v}
			if _, isCoeff := coeffReg[v]; !isCoeff && last[sl] == i {
				if r, ok := reg[sl]; ok {
					free[r] = true
					delete(reg, sl)
				}
			}
		}
	}
	var out []placed
	for i, s := range steps {
		p := placed{step: s, d: -1, a: -1, b: -1, t: -1}
		ops := s.in.Operands()
		if len(ops) > 0 {
			p.a = read(s, ops[0])
		}
		if len(ops) > 1 {
			p.b = read(s, ops[1])
		}
		var err error
		switch s.in.Op {
		case rules.OpCoeff:
			continue
		case rules.OpStore:
			release(i, s)
		case rules.OpMaxNaN:
			// The result register is written before the operands' last
			// read, so neither it nor the scratch may alias them.
			if p.d, err = get(); err != nil {
				return nil, err
			}
			if p.t, err = get(); err != nil {
				return nil, err
			}
			free[p.t] = true
			release(i, s)
		default:
			// One instruction reads its operands before writing, so the
			// result may reuse an operand that dies here.
			release(i, s)
			if p.d, err = get(); err != nil {
				return nil, err
			}
		}
		if p.d >= 0 {
			sl := slot{s.copy, s.in.Dst}
			if _, used := last[sl]; used {
				reg[sl] = p.d
			} else {
				free[p.d] = true
			}
		}
		out = append(out, p)
	}
	return out, nil
}
