package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
	"github.com/simdoptim/optim/linalg"
)

// Muon is torch.optim.Muon (torch 2.9): SGD momentum whose update is
// orthogonalized by a Newton–Schulz iteration before it is applied, for the
// 2-D weights of hidden layers. Every parameter of a Muon group needs a
// shape rows × cols (Group.Shapes); biases, embeddings and other shapes
// belong in another group, with AdamW say, as torch's documentation
// advises (see the package example of NewGroups).
//
// A step of a parameter P with gradient G and momentum buffer B is
// torch's _single_tensor_muon:
//
//	B = lerp(B, G, 1-Momentum)
//	U = lerp(G, B, Momentum) if Nesterov, else B
//	X = U (Uᵀ when rows > cols);  X = X / max(‖X‖_F, Eps)
//	NSSteps times:  A = X·Xᵀ;  X = NSA·X + (NSB·A + NSC·A·A)·X
//	P = P·(1 - LR·WeightDecay) - adjusted(LR)·X (transposed back)
//
// with adjusted(LR) = LR·sqrt(max(1, rows/cols)) (AdjustLR "" or
// "original") or 0.2·sqrt(max(rows, cols))·LR ("match_rms_adamw").
//
// Torch runs the iteration in bfloat16. Muon runs it in the parameter's
// type by default (float32 or float64), which is more accurate and what
// the parameter's own arithmetic would give; NSBFloat16 runs torch's
// bfloat16 iteration instead, with every stored matrix rounded to
// bfloat16 and each product accumulated in float32 (torch does not specify
// how a bfloat16 product rounds, so this matches torch's CPU closely but
// not bit for bit). Either way the products are linalg.Gemm's, so the bits
// are the same on every CPU, kernel set and worker count.
type Muon struct {
	LR, WeightDecay, Momentum float64
	Nesterov                  bool
	// NSA, NSB and NSC are the iteration's coefficients (a, b, c), torch's
	// ns_coefficients.
	NSA, NSB, NSC float64
	// Eps bounds the norm that X is divided by, from below.
	Eps float64
	// NSSteps is the number of Newton–Schulz iterations, 0 to 99.
	NSSteps int
	// AdjustLR is torch's adjust_lr_fn: "" (None) or "original" scale the
	// rate by sqrt(max(1, rows/cols)); "match_rms_adamw" by
	// 0.2·sqrt(max(rows, cols)).
	AdjustLR string
	// UseAddmm computes the iteration's sums as torch's use_addmm does,
	// each with its product (b·A + c·(A·A) and a·X + B·X); without it
	// they are formed as torch's default writes them, (c·A)·A + b·A and
	// B·X + a·X, each term rounded. The results agree to rounding.
	UseAddmm bool
	// NSBFloat16 runs the iteration in bfloat16, as torch does (see Muon).
	NSBFloat16 bool
}

// DefaultMuon returns torch's Muon defaults: lr 1e-3, weight decay 0.1,
// momentum 0.95 with Nesterov, ns_coefficients (3.4445, -4.7750, 2.0315),
// eps 1e-7, 5 iterations, the "original" rate adjustment.
func DefaultMuon() Muon {
	return Muon{LR: 1e-3, WeightDecay: 0.1, Momentum: 0.95, Nesterov: true,
		NSA: 3.4445, NSB: -4.7750, NSC: 2.0315, Eps: 1e-7, NSSteps: 5}
}

// muonMaxSteps is torch's bound on ns_steps (it raises from 100 on).
const muonMaxSteps = 100

func (r Muon) validate() error {
	if err := checks("Muon",
		nonNegative("LR", r.LR), nonNegative("WeightDecay", r.WeightDecay), nonNegative("Momentum", r.Momentum),
		finiteValue("NSA", r.NSA), finiteValue("NSB", r.NSB), finiteValue("NSC", r.NSC),
		nonNegative("Eps", r.Eps)); err != nil {
		return err
	}
	if r.NSSteps < 0 || r.NSSteps >= muonMaxSteps {
		return &HyperparameterError{Group: -1, Rule: "Muon", Field: "NSSteps", Value: float64(r.NSSteps),
			Want: fmt.Sprintf("0 to %d (torch refuses %d or more)", muonMaxSteps-1, muonMaxSteps)}
	}
	if err := checks("Muon", positiveEps("Muon", r.Eps)); err != nil {
		return err
	}
	switch r.AdjustLR {
	case "", "original", "match_rms_adamw":
	default:
		return &RuleError{Group: -1, Rule: "Muon", Reason: fmt.Sprintf(
			"Muon.AdjustLR = %q, want \"\" (torch's None), \"original\" or \"match_rms_adamw\"", r.AdjustLR)}
	}
	return nil
}

// Muon has no elementwise kernel: kind names the kernel that the
// optimizer's tables hold for it, which never runs (see matrixRule).
func (Muon) kind() kernels.Kind            { return generic.KindSGD }
func (r Muon) lr() float64                 { return r.LR }
func (r Muon) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r Muon) momentum() (float64, bool)   { return r.Momentum, true }
func (r Muon) withMomentum(m float64) Rule { r.Momentum = m; return r }

func (r Muon) coefficients32(stepInput) stepCoeffs[float32] { return muonCoefficients[float32](r) }
func (r Muon) coefficients64(stepInput) stepCoeffs[float64] { return muonCoefficients[float64](r) }

// muonCoefficients holds, for representable's checks, the scalars a step
// multiplies by in T: the largest step size (the adjustment's ratio is
// shape-dependent; the check uses LR itself, and the step checks the
// adjusted one) and the decay.
func muonCoefficients[T generic.Float](r Muon) stepCoeffs[T] {
	return stepCoeffs[T]{c: generic.Coeffs[T]{NegLR: T(-r.LR), Decay: T(1 - r.LR*r.WeightDecay), Eps: T(r.Eps)}}
}

func (r Muon) checkCoefficients(k *coeffChecker) {
	k.stepSize(r.LR, plainValue)
	k.decay(r.WeightDecay)
	k.eps(r.Eps)
}

func (Muon) checkShape(s Shape) error {
	if len(s) != 2 {
		return errors.New("Muon steps 2-D parameters only (rows × cols), as torch's Muon; give the group's Shapes, " +
			"and step the other parameters (biases, embeddings) with another rule in another group, AdamW say")
	}
	return nil
}

func (Muon) stateSlots(s Shape, n int) (lens [3]int, keys [3]string, full [3]bool) {
	return [3]int{n}, [3]string{"momentum_buffer"}, [3]bool{true}
}

// adjustedLR is torch's _adjust_lr for a rows × cols parameter.
func (r Muon) adjustedLR(rows, cols int) float64 {
	a, b := float64(rows), float64(cols)
	if r.AdjustLR == "match_rms_adamw" {
		return r.LR * (0.2 * math.Sqrt(max(a, b)))
	}
	return r.LR * math.Sqrt(max(1, a/b))
}

// nsWork is the scratch of the Newton–Schulz iteration in C: X and its
// next value (m × n, m ≤ n), the Gram matrix A, the polynomial B and a
// temporary (m × m), and the products' packing buffers.
type nsWork[C float32 | float64] struct {
	gemm          linalg.GemmWorkspace[C]
	x, y, a, b, t []C
	one           [1][]C // the argument of generic.Norm, kept to not allocate
}

// grow makes room for an m × n iteration.
func (w *nsWork[C]) grow(m, n int) {
	if len(w.x) < m*n {
		w.x, w.y = make([]C, m*n), make([]C, m*n)
	}
	if len(w.a) < m*m {
		w.a, w.b, w.t = make([]C, m*m), make([]C, m*m), make([]C, m*m)
	}
}

// newtonSchulz runs Muon's orthogonalization on the m × n matrix (m ≤ n)
// that w.x holds and returns the result (in w.x or w.y). rd, when not nil,
// rounds a stored value to the iteration's precision (bfloat16): every
// matrix and scalar product is rounded by it after it is formed, as torch
// stores each bfloat16 intermediate.
func newtonSchulz[C float32 | float64](w *nsWork[C], r *Muon, m, n int, rd func(C) C) []C {
	k := gradKernels[C]()
	x, y := w.x[:m*n], w.y[:m*n]
	a, b, t := w.a[:m*m], w.b[:m*m], w.t[:m*m]
	round := func(s []C) {
		if rd != nil {
			for i, v := range s {
				s[i] = rd(v)
			}
		}
	}
	w.one[0] = x
	norm := C(generic.Norm(k, 2, w.one[:]))
	w.one[0] = nil
	eps := C(r.Eps)
	if rd != nil {
		norm, eps = rd(norm), rd(eps)
	}
	d := norm
	if d < eps { // torch's clamp(min=eps); a NaN norm stays NaN
		d = eps
	}
	for i := range x {
		x[i] /= d
	}
	round(x)
	ca, cb, cc := C(r.NSA), C(r.NSB), C(r.NSC)
	if rd != nil {
		// A Python scalar times a bfloat16 tensor is a bfloat16 product
		// of the scalar rounded to bfloat16 (as recorded with torch 1.13).
		ca, cb, cc = rd(ca), rd(cb), rd(cc)
	}
	// The products cannot fail: every dimension and slice was sized here.
	gemm := func(transB bool, mm, nn, kk int, alpha C, p []C, lda int, q []C, ldb int, beta C, out []C, ldc int) {
		if err := w.gemm.Gemm(false, transB, mm, nn, kk, alpha, p, lda, q, ldb, beta, out, ldc); err != nil {
			panic("optim: Muon: " + err.Error())
		}
	}
	for range r.NSSteps {
		gemm(true, m, m, n, 1, x, n, x, n, 0, a, m) // A = X·Xᵀ
		round(a)
		if r.UseAddmm {
			copy(b, a) // B = addmm(A, A, A, beta=b, alpha=c)
			gemm(false, m, m, m, cc, a, m, a, m, cb, b, m)
			round(b)
			copy(y, x) // X' = addmm(X, B, X, beta=a)
			gemm(false, m, n, m, 1, b, m, x, n, ca, y, n)
			round(y)
		} else {
			// B = b*A + c*A @ A, which Python reads as b*A + (c*A)@A.
			for i, v := range a {
				t[i] = cc * v
			}
			round(t)
			gemm(false, m, m, m, 1, t, m, a, m, 0, b, m)
			round(b)
			for i, v := range a {
				ba := cb * v
				if rd != nil {
					ba = rd(ba)
				}
				b[i] = C(ba) + b[i] // the conversion keeps the sum from fusing
			}
			round(b)
			// X' = a*X + B@X.
			gemm(false, m, n, m, 1, b, m, x, n, 0, y, n)
			round(y)
			for i, v := range x {
				ax := ca * v
				if rd != nil {
					ax = rd(ax)
				}
				y[i] = C(ax) + y[i]
			}
			round(y)
		}
		x, y = y, x
	}
	return x
}

// bf16Round rounds x to the nearest bfloat16 (ties to even), as torch
// stores a bfloat16 tensor.
func bf16Round(x float32) float32 { return generic.Float32FromBF16(generic.BF16FromFloat32(x)) }

// muonStep is one Muon step of a rows × cols parameter p with gradient g
// and momentum buffer buf.
func muonStep[T float32 | float64](w *matWork[T], r *Muon, p, g, buf []T, rows, cols int) {
	k := gradKernels[T]()
	k.Lerp(buf, g, T(1-r.Momentum))
	u := buf
	if r.Nesterov {
		u = w.u[:len(g)]
		copy(u, g)
		k.Lerp(u, buf, T(r.Momentum))
	}
	m, n := min(rows, cols), max(rows, cols)
	tr := rows > cols
	decay := T(1 - r.LR*r.WeightDecay)
	neg := T(-r.adjustedLR(rows, cols))
	if r.NSBFloat16 {
		fill(w.ns32.x[:m*n], u, rows, cols, tr, func(v T) float32 { return bf16Round(float32(v)) })
		update(p, newtonSchulz(&w.ns32, r, m, n, bf16Round), rows, cols, tr, decay, neg)
	} else {
		fill(w.ns.x[:m*n], u, rows, cols, tr, func(v T) T { return v })
		update(p, newtonSchulz(&w.ns, r, m, n, nil), rows, cols, tr, decay, neg)
	}
}

// update is torch's param.mul_(decay) then param.add_(O, alpha=neg) for
// the rows × cols parameter p and the orthogonalized update o, stored
// transposed when tr.
func update[T, C float32 | float64](p []T, o []C, rows, cols int, tr bool, decay, neg T) {
	for i := range rows {
		row := p[i*cols : (i+1)*cols]
		for j, v := range row {
			idx := i*cols + j
			if tr {
				idx = j*rows + i
			}
			row[j] = T(v*decay) + T(neg*T(o[idx])) // each product rounded: never fused
		}
	}
}

// fill stores the rows × cols matrix u into x, transposed when tr, each
// element converted by conv.
func fill[T, C float32 | float64](x []C, u []T, rows, cols int, tr bool, conv func(T) C) {
	if !tr {
		for i, v := range u[:rows*cols] {
			x[i] = conv(v)
		}
		return
	}
	for i := range rows {
		for j, v := range u[i*cols : (i+1)*cols] {
			x[j*rows+i] = conv(v)
		}
	}
}

// muonTorch: torch.optim.Muon's param_groups entry.
var muonTorch = matrixTorchForm[Muon](torchForm{
	class:  "Muon",
	noStep: true, // torch's Muon keeps momentum_buffer only
	keys: []groupKey{
		hyper("lr", "LR"), hyper("weight_decay", "WeightDecay"), hyper("momentum", "Momentum"),
		hyper("nesterov", "Nesterov"), hyper("ns_coefficients", "NSA", "NSB", "NSC"), hyper("eps", "Eps"),
		hyper("ns_steps", "NSSteps"), hyper("adjust_lr_fn", "AdjustLR"), hyper("use_addmm", "UseAddmm"),
		{name: "ns_bfloat16", fields: []string{"NSBFloat16"}, optional: true}, // not torch's: it runs bfloat16 only
	},
})

func (Muon) torch() *torchForm { return &muonTorch }
