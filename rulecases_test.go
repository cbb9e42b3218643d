package optim

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/simdoptim/optim/kernels"
)

// The table of rule cases is the tests' one description of the update rules,
// as torch's optim_db is torch.optim's: the tests of the API, the ranges, the
// checkpoints, the digests, the golden replays and the schedules iterate over
// ruleCases, and no test lists the rules otherwise. A new rule adds its row
// here and its golden data in testdata/torch; TestRuleCasesCoverEveryKernel
// fails until it does.
//
// The matrix rules (Muon, Adafactor) have no row: they have no elementwise
// kernel and need shaped parameters; matrix_test.go says how they are
// tested instead.
//
// The table is a test file of this package, not a package of its own: the
// tests that iterate over it reach the optimizer's internals (state slots,
// step counts, checkpoint constants), which an external test package could
// see only through exported copies of each.

// ruleCase is one rule's row.
type ruleCase struct {
	// name is the rule's name in errors and checkpoints, its Go type's.
	name string
	// classes are the rule's torch classes with their Default*
	// constructors; the first is the rule's plain default, from which
	// ranges vary one field at a time.
	classes []caseClass

	// ranges are the values of every float64 field that New accepts and
	// rejects, each set alone on every class's default. Every float64
	// field of the rule has one (TestHyperparameterRanges checks that).
	ranges []caseRange
	// accepts are whole rules at the edges of torch's ranges that New
	// accepts: several fields at an edge at once.
	accepts []Rule
	// rejects are rule literals that New rejects as a whole, and what the
	// error must mention: options that contradict each other, a literal
	// that leaves a field out (a zero Eps), and which error such a literal
	// reports first.
	rejects []caseReject
	// overflows are rules within torch's ranges whose scalars of step 1
	// are not finite in float32 (or, where alsoFloat64 is set, in both
	// element types): New rejects them as the element type sees them.
	overflows []caseOverflow

	// momentum is the field that GroupMomentum reads and the schedulers
	// cycle ("Momentum", "Beta1"), or "" for a rule without momentum.
	momentum string

	// groupKeys are the keys of the rule's param_groups entry in a
	// checkpoint, in the order torch writes them, "params" left out.
	groupKeys []caseKey
	// scalarKeys are the 0-d tensors of a parameter's state in a
	// checkpoint: torch's "step" (SGD keeps none) and the rule's scalar
	// state.
	scalarKeys []string

	// configs are option combinations that the API, group, parallel and
	// checkpoint tests run, with the state slots each keeps.
	configs []caseConfig

	// digestConfigs are option combinations whose every parameter and
	// state bit the digest test hashes: together they run every variant of
	// the rule's kernel, unless digestMissesVariants.
	digestConfigs []Rule
	// digestMissesVariants is set for the rules whose digest was recorded
	// before the digest had to run every variant (SGD, RMSProp and Adam):
	// their configurations cannot grow without changing the recorded
	// digest. The variants they miss are still checked bit for bit against
	// package generic by the kernel tests.
	digestMissesVariants bool
	// digest, where set, is the recorded FNV-64a hash of the digest runs of
	// the digestConfigs of this row and of every row above it back to the
	// previous row with a digest (see TestDigest). A rule brings its own
	// digest rather than changing a recorded one, so that every recorded
	// digest stays checkable as it was.
	digest uint64
}

// caseClass is one torch class of a rule.
type caseClass struct {
	// name is torch's class name ("RMSprop", "AdamW"), lion-pytorch's for
	// Lion: the checkpoint's rule type and the golden files' optimizer.
	name string
	// constructor is this package's Default* value for the class, and
	// torch its documented constructor defaults, restated.
	constructor, torch Rule
	// golden is the file-name pattern (without .json.gz) of the class's
	// trajectories recorded from torch in testdata/torch; "" for Lion,
	// which torch does not have.
	golden string
}

// caseRange is the values tried for one float64 field of a rule.
type caseRange struct {
	field string
	caseValues
}

// caseValues lists values New accepts and values it rejects with a
// HyperparameterError that names the field and the value.
type caseValues struct {
	valid, invalid []float64
}

// caseReject is a rule New rejects and what the error must mention.
type caseReject struct {
	rule Rule
	want []string
}

// caseOverflow is a rule whose scalars overflow float32 and the field
// the error blames; alsoFloat64 is set when they overflow float64 too.
type caseOverflow struct {
	rule        Rule
	field       string
	alsoFloat64 bool
}

// caseKey is one key of a param_groups entry and the rule fields it holds
// in order ("betas": Beta1, Beta2); torch's implementation choices
// (foreach, capturable, ...) hold none.
type caseKey struct {
	key    string
	fields []string
}

// caseKeys returns the keys written "key:Field,Field" ("betas:Beta1,Beta2",
// "eps:Eps"), or "key" for a key that holds no field.
func caseKeys(keys ...string) []caseKey {
	var out []caseKey
	for _, k := range keys {
		name, fields, ok := strings.Cut(k, ":")
		c := caseKey{key: name}
		if ok {
			c.fields = strings.Split(fields, ",")
		}
		out = append(out, c)
	}
	return out
}

// caseConfig is a rule and the torch keys of the state slots its kernel
// keeps, in slot order s0, s1, s2 ("" for a slot it does not keep).
type caseConfig struct {
	rule  Rule
	state [3]string
}

// torchRanges are the ranges torch documents, as values to try.
var torchRanges = struct {
	nonNegative, positive, unitOpen, unitClosed, finite caseValues
}{
	// Finite and >= 0: learning rates, weight decays and most others.
	nonNegative: caseValues{valid: []float64{0, 0.5, 10}, invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, -1}},
	// Eps's: a zero Eps would make 0/0 = NaN.
	positive: caseValues{valid: []float64{1e-8, 0.5, 10}, invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, 0}},
	// [0, 1): betas, alpha and momentum.
	unitOpen: caseValues{valid: []float64{0, 0.5, 0.999},
		invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, -0.1, 1, 1.5, math.MaxFloat64}},
	// [0, 1].
	unitClosed: caseValues{valid: []float64{0, 0.5, 1},
		invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, -0.1, math.Nextafter(1, 2), 1.5}},
	// Any finite value: ASGD's T0.
	finite: caseValues{valid: []float64{-5, 0, 1e6}, invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1)}},
}

// partialEps is what the error of a rule literal that leaves Eps out must
// mention: the zero Eps and the constructor to start from.
func partialEps(name string) []string {
	return []string{name + ".Eps", "> 0", "optim.Default" + name + "()"}
}

// ruleCases returns the table, one row per rule in the order of
// generic.Rules().
func ruleCases() []ruleCase {
	return []ruleCase{
		{
			name: "SGD",
			classes: []caseClass{
				// SGD(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False)
				{name: "SGD", constructor: DefaultSGD(), torch: SGD{LR: 1e-3}, golden: "sgd_*"},
			},
			ranges: []caseRange{{"LR", torchRanges.nonNegative}, {"Momentum", torchRanges.unitOpen},
				{"Dampening", torchRanges.unitClosed}, {"WeightDecay", torchRanges.nonNegative}},
			accepts: []Rule{SGD{}},
			rejects: []caseReject{
				// Nesterov needs momentum and no dampening.
				{SGD{LR: 0.1, Nesterov: true}, []string{"Nesterov", "Momentum 0"}},
				{SGD{LR: 0.1, Nesterov: true, Momentum: 0.9, Dampening: 0.25}, []string{"Nesterov", "Dampening 0.25"}},
			},
			overflows: []caseOverflow{{SGD{LR: 1e39}, "LR", false}, {SGD{LR: 0.1, WeightDecay: 1e39}, "WeightDecay", false}},
			momentum:  "Momentum",
			groupKeys: caseKeys("lr:LR", "momentum:Momentum", "dampening:Dampening",
				"weight_decay:WeightDecay", "nesterov:Nesterov", "maximize:Maximize",
				"foreach", "differentiable"),
			configs: []caseConfig{
				{SGD{LR: 0.1}, [3]string{}},
				{SGD{LR: 0.1, WeightDecay: 0.01, Maximize: true}, [3]string{}},
				{SGD{LR: 0.1, Momentum: 0.9, Dampening: 0.1}, [3]string{"momentum_buffer"}},
				{SGD{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}, [3]string{"momentum_buffer"}},
			},
			digestMissesVariants: true,
			digestConfigs: []Rule{
				SGD{LR: 0.0625},
				SGD{LR: 0.03125, Momentum: 0.875, Dampening: 0.125, WeightDecay: 0.01, Maximize: true},
				SGD{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3},
			},
		},
		{
			name: "Adagrad",
			classes: []caseClass{
				// Adagrad(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)
				{name: "Adagrad", constructor: DefaultAdagrad(), torch: Adagrad{LR: 1e-2, Eps: 1e-10}, golden: "adagrad_*"},
			},
			ranges: []caseRange{{"LR", torchRanges.nonNegative}, {"LRDecay", torchRanges.nonNegative}, {"WeightDecay", torchRanges.nonNegative},
				{"InitialAccumulatorValue", torchRanges.nonNegative}, {"Eps", torchRanges.positive}},
			rejects:   []caseReject{{Adagrad{LR: 1e-2}, partialEps("Adagrad")}},
			overflows: []caseOverflow{{Adagrad{LR: 0.01, Eps: 1e-60}, "Eps", false}},
			groupKeys: caseKeys("lr:LR", "lr_decay:LRDecay", "eps:Eps", "weight_decay:WeightDecay",
				"initial_accumulator_value:InitialAccumulatorValue", "foreach", "maximize:Maximize", "differentiable"),
			scalarKeys: []string{"step"},
			configs: []caseConfig{
				{Adagrad{LR: 0.1, LRDecay: 0.01, InitialAccumulatorValue: 0.25, Eps: 1e-10}, [3]string{"sum"}},
			},
			digestConfigs: []Rule{
				Adagrad{LR: 0.1, LRDecay: 0.01, WeightDecay: 1e-3, InitialAccumulatorValue: 0.1, Eps: 1e-10},
				Adagrad{LR: 0.01, Eps: 1e-10, Maximize: true},
			},
		},
		{
			name: "RMSProp",
			classes: []caseClass{
				// RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)
				{name: "RMSprop", constructor: DefaultRMSProp(), torch: RMSProp{LR: 1e-2, Alpha: 0.99, Eps: 1e-8}, golden: "rmsprop_*"},
			},
			ranges: []caseRange{{"LR", torchRanges.nonNegative}, {"Alpha", torchRanges.unitOpen}, {"Eps", torchRanges.positive}, {"WeightDecay", torchRanges.nonNegative},
				{"Momentum", torchRanges.unitOpen}},
			rejects: []caseReject{
				{RMSProp{LR: 1e-2}, partialEps("RMSProp")},
				// With Eps left out, a field out of range is reported first.
				{RMSProp{LR: 0.1, Alpha: 1}, []string{"RMSProp.Alpha", "1"}},
				{RMSProp{LR: 0.1, Alpha: 1.5}, []string{"RMSProp.Alpha", "1.5"}},
				{RMSProp{LR: 0.1, Alpha: 0.9, Momentum: 1}, []string{"RMSProp.Momentum", "1"}},
				{RMSProp{LR: 0.1, Alpha: 0.9, Momentum: 1.5}, []string{"RMSProp.Momentum", "1.5"}},
			},
			overflows: []caseOverflow{{RMSProp{LR: 0.01, Alpha: 0.99, Eps: 1e39}, "Eps", false}},
			momentum:  "Momentum",
			groupKeys: caseKeys("lr:LR", "momentum:Momentum", "alpha:Alpha", "eps:Eps",
				"centered:Centered", "weight_decay:WeightDecay", "foreach", "maximize:Maximize",
				"differentiable"),
			scalarKeys: []string{"step"},
			configs: []caseConfig{
				{RMSProp{LR: 0.01, Alpha: 0.99, Eps: 1e-8}, [3]string{"square_avg"}},
				{RMSProp{LR: 0.01, Alpha: 0.99, Eps: 1e-8, Centered: true}, [3]string{"square_avg", "grad_avg"}},
				{RMSProp{LR: 0.01, Alpha: 0.3, Eps: 1e-8, Momentum: 0.9, WeightDecay: 0.1}, [3]string{"square_avg", "", "momentum_buffer"}},
				{RMSProp{LR: 0.01, Alpha: 0.3, Eps: 1e-8, Momentum: 0.9, Centered: true, Maximize: true}, [3]string{"square_avg", "grad_avg", "momentum_buffer"}},
			},
			digestMissesVariants: true,
			digestConfigs: []Rule{
				DefaultRMSProp(),
				RMSProp{LR: 0.01, Alpha: 0.9, Eps: 1e-6, WeightDecay: 0.01, Momentum: 0.5, Centered: true},
				RMSProp{LR: 0.003, Alpha: 0.3, Eps: 1e-8, Momentum: 0.9, Centered: true, Maximize: true},
			},
		},
		{
			name: "Adam",
			classes: []caseClass{
				// Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)
				{name: "Adam", constructor: DefaultAdam(), torch: Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, golden: "adam_*"},
				// AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)
				{name: "AdamW", constructor: DefaultAdamW(),
					torch: Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2, Decoupled: true}, golden: "adamw_*"},
			},
			ranges: []caseRange{{"LR", torchRanges.nonNegative}, {"Beta1", torchRanges.unitOpen}, {"Beta2", torchRanges.unitOpen}, {"Eps", torchRanges.positive},
				{"WeightDecay", torchRanges.nonNegative}},
			accepts: []Rule{Adam{LR: 1e-3, Eps: 1e-8}}, // zero betas are a real configuration
			rejects: []caseReject{
				{Adam{LR: 1e-3}, partialEps("Adam")},
				{Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999}, partialEps("Adam")},
				// With Eps left out, a field out of range is reported first.
				{Adam{LR: 0.1, Beta1: 1, Beta2: 0.9}, []string{"Adam.Beta1", "1"}},
				{Adam{LR: 0.1, Beta1: 1.5, Beta2: 0.9}, []string{"Adam.Beta1", "1.5"}},
				{Adam{LR: 0.1, Beta1: 0.9, Beta2: 1}, []string{"Adam.Beta2", "1"}},
				{Adam{LR: 0.1, Beta1: 0.9, Beta2: 1.5}, []string{"Adam.Beta2", "1.5"}},
			},
			overflows: []caseOverflow{
				{Adam{LR: 1e37, Beta1: 0.99, Beta2: 0.999, Eps: 1e-8}, "LR", false}, // LR/(1-β1) = 1e39
				{Adam{LR: 1e20, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e20, Decoupled: true}, "WeightDecay", false},
				{Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-50}, "Eps", false},
				{Adam{LR: 1e200, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e200, Decoupled: true}, "WeightDecay", true},
			},
			momentum: "Beta1",
			groupKeys: caseKeys("lr:LR", "betas:Beta1,Beta2", "eps:Eps", "weight_decay:WeightDecay",
				"amsgrad:AMSGrad", "maximize:Maximize", "foreach", "capturable", "differentiable",
				"fused"),
			scalarKeys: []string{"step"},
			configs: []caseConfig{
				{DefaultAdam(), [3]string{"exp_avg", "exp_avg_sq"}},
				{DefaultAdamW(), [3]string{"exp_avg", "exp_avg_sq"}},
				{Adam{LR: 0.01, Beta1: 0.25, Beta2: 0.5, Eps: 1e-8, WeightDecay: 0.1, AMSGrad: true}, [3]string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
				{Adam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1, AMSGrad: true, Decoupled: true, Maximize: true}, [3]string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
			},
			digestMissesVariants: true,
			digestConfigs: []Rule{
				DefaultAdam(),
				Adam{LR: 0.01, Beta1: 0.8, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.05, AMSGrad: true, Decoupled: true},
				Adam{LR: 0.002, Beta1: 0.25, Beta2: 0.5, Eps: 1e-7, WeightDecay: 0.01, AMSGrad: true, Maximize: true},
			},
			digest: 0x857487ad8bee03c8, // SGD, Adagrad, RMSProp and Adam
		},
		{
			name: "NAdam",
			classes: []caseClass{
				// NAdam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3, decoupled_weight_decay=False)
				{name: "NAdam", constructor: DefaultNAdam(), torch: NAdam{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MomentumDecay: 4e-3}, golden: "nadam_*"},
			},
			ranges: []caseRange{{"LR", torchRanges.nonNegative}, {"Beta1", torchRanges.unitOpen}, {"Beta2", torchRanges.unitOpen}, {"Eps", torchRanges.positive},
				{"WeightDecay", torchRanges.nonNegative}, {"MomentumDecay", torchRanges.nonNegative}},
			accepts: []Rule{NAdam{LR: 0, Eps: 1e-8}},
			rejects: []caseReject{{NAdam{LR: 1e-3}, partialEps("NAdam")}},
			overflows: []caseOverflow{
				{withField(DefaultNAdam(), "LR", 1e39), "LR", false},
				{NAdam{LR: 1e20, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e20, Decoupled: true}, "WeightDecay", false},
				{withField(DefaultNAdam(), "Eps", 1e-50), "Eps", false},
			},
			momentum: "Beta1",
			groupKeys: caseKeys("lr:LR", "betas:Beta1,Beta2", "eps:Eps", "weight_decay:WeightDecay",
				"momentum_decay:MomentumDecay", "decoupled_weight_decay:Decoupled", "foreach",
				"maximize:Maximize", "capturable", "differentiable"),
			scalarKeys: []string{"step", "mu_product"},
			configs: []caseConfig{
				{DefaultNAdam(), [3]string{"exp_avg", "exp_avg_sq"}},
				{NAdam{LR: 0.01, Beta1: 0.3, Beta2: 0.9, Eps: 1e-8, WeightDecay: 0.1, MomentumDecay: 0.5, Decoupled: true, Maximize: true}, [3]string{"exp_avg", "exp_avg_sq"}},
				{NAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1, MomentumDecay: 4e-3}, [3]string{"exp_avg", "exp_avg_sq"}},
			},
			digestConfigs: []Rule{
				DefaultNAdam(),
				NAdam{LR: 0.01, Beta1: 0.3, Beta2: 0.9, Eps: 1e-6, WeightDecay: 0.05, MomentumDecay: 0.5, Decoupled: true, Maximize: true},
				NAdam{LR: 0.003, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.01, MomentumDecay: 4e-3},
				NAdam{LR: 0.003, Beta1: 0.25, Beta2: 0.5, Eps: 1e-7, MomentumDecay: 0.1},
				NAdam{LR: 0.003, Beta1: 0.5, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.01, MomentumDecay: 4e-3, Maximize: true},
				NAdam{LR: 0.01, Beta1: 0.8, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, MomentumDecay: 4e-3, Decoupled: true},
			},
		},
		{
			name: "RAdam",
			classes: []caseClass{
				// RAdam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False)
				{name: "RAdam", constructor: DefaultRAdam(), torch: RAdam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, golden: "radam_*"},
			},
			ranges: []caseRange{{"LR", torchRanges.nonNegative}, {"Beta1", torchRanges.unitOpen}, {"Beta2", torchRanges.unitOpen}, {"Eps", torchRanges.positive},
				{"WeightDecay", torchRanges.nonNegative}},
			rejects:   []caseReject{{RAdam{LR: 1e-3}, partialEps("RAdam")}},
			overflows: []caseOverflow{{withField(DefaultRAdam(), "LR", 1e39), "LR", false}},
			momentum:  "Beta1",
			groupKeys: caseKeys("lr:LR", "betas:Beta1,Beta2", "eps:Eps", "weight_decay:WeightDecay",
				"decoupled_weight_decay:Decoupled", "foreach", "maximize:Maximize", "capturable",
				"differentiable"),
			scalarKeys: []string{"step"},
			configs: []caseConfig{
				{RAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8}, [3]string{"exp_avg", "exp_avg_sq"}},
				{RAdam{LR: 0.01, Beta1: 0.3, Beta2: 0.9, Eps: 1e-8, WeightDecay: 0.1, Decoupled: true, Maximize: true}, [3]string{"exp_avg", "exp_avg_sq"}},
			},
			// RAdam rectifies from step 6 with β2 = 0.99.
			digestConfigs: []Rule{
				RAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8},
				RAdam{LR: 0.01, Beta1: 0.25, Beta2: 0.99, Eps: 1e-7, Maximize: true},
				RAdam{LR: 0.002, Beta1: 0.8, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.01},
				RAdam{LR: 0.002, Beta1: 0.5, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.01},
				RAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.05, Decoupled: true},
				RAdam{LR: 0.01, Beta1: 0.25, Beta2: 0.99, Eps: 1e-7, WeightDecay: 0.05, Decoupled: true, Maximize: true},
				RAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.5, Eps: 1e-8}, // never rectified
			},
		},
		{
			name: "Adamax",
			classes: []caseClass{
				// Adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
				{name: "Adamax", constructor: DefaultAdamax(), torch: Adamax{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, golden: "adamax_*"},
			},
			ranges: []caseRange{{"LR", torchRanges.nonNegative}, {"Beta1", torchRanges.unitOpen}, {"Beta2", torchRanges.unitOpen}, {"Eps", torchRanges.positive},
				{"WeightDecay", torchRanges.nonNegative}},
			rejects:   []caseReject{{Adamax{LR: 1e-3}, partialEps("Adamax")}},
			overflows: []caseOverflow{{withField(DefaultAdamax(), "LR", 1e38), "LR", false}}, // LR/(1-β1) = 1e39
			momentum:  "Beta1",
			groupKeys: caseKeys("lr:LR", "betas:Beta1,Beta2", "eps:Eps", "weight_decay:WeightDecay",
				"foreach", "maximize:Maximize", "differentiable", "capturable"),
			scalarKeys: []string{"step"},
			configs: []caseConfig{
				{DefaultAdamax(), [3]string{"exp_avg", "exp_inf"}},
				{Adamax{LR: 0.01, Beta1: 0.3, Beta2: 0.9, Eps: 1e-8, WeightDecay: 0.1, Maximize: true}, [3]string{"exp_avg", "exp_inf"}},
			},
			digestConfigs: []Rule{
				DefaultAdamax(),
				Adamax{LR: 0.01, Beta1: 0.25, Beta2: 0.5, Eps: 1e-7, WeightDecay: 0.01, Maximize: true},
				Adamax{LR: 0.01, Beta1: 0.5, Beta2: 0.9, Eps: 1e-7},
				Adamax{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1},
			},
		},
		{
			name: "Adadelta",
			classes: []caseClass{
				// Adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0)
				{name: "Adadelta", constructor: DefaultAdadelta(), torch: Adadelta{LR: 1, Rho: 0.9, Eps: 1e-6}, golden: "adadelta_*"},
			},
			ranges:    []caseRange{{"LR", torchRanges.nonNegative}, {"Rho", torchRanges.unitClosed}, {"Eps", torchRanges.positive}, {"WeightDecay", torchRanges.nonNegative}},
			rejects:   []caseReject{{Adadelta{LR: 1}, partialEps("Adadelta")}},
			overflows: []caseOverflow{{withField(DefaultAdadelta(), "WeightDecay", 1e39), "WeightDecay", false}},
			groupKeys: caseKeys("lr:LR", "rho:Rho", "eps:Eps", "weight_decay:WeightDecay",
				"foreach", "capturable", "maximize:Maximize", "differentiable"),
			scalarKeys: []string{"step"},
			configs: []caseConfig{
				{DefaultAdadelta(), [3]string{"square_avg", "acc_delta"}},
				{Adadelta{LR: 0.5, Rho: 0.3, Eps: 1e-6, WeightDecay: 0.1, Maximize: true}, [3]string{"square_avg", "acc_delta"}},
			},
			digestConfigs: []Rule{
				DefaultAdadelta(),
				Adadelta{LR: 0.5, Rho: 0.3, Eps: 1e-6, WeightDecay: 0.01, Maximize: true},
			},
		},
		{
			name: "Rprop",
			classes: []caseClass{
				// Rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50))
				{name: "Rprop", constructor: DefaultRprop(), torch: Rprop{LR: 1e-2, EtaMinus: 0.5, EtaPlus: 1.2, StepSizeMin: 1e-6, StepSizeMax: 50}, golden: "rprop_*"},
			},
			// The default's step sizes are (1e-6, 50): a minimum above 50 is
			// out of range.
			ranges: []caseRange{{"LR", torchRanges.nonNegative},
				{"EtaMinus", caseValues{valid: []float64{1e-3, 0.5, 0.999}, invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, 0, 1, 1.2}}},
				{"EtaPlus", caseValues{valid: []float64{1.001, 1.2, 100}, invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, 0.5, 1}}},
				{"StepSizeMin", caseValues{valid: []float64{0, 1e-6, 50}, invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, -1, 51}}},
				{"StepSizeMax", caseValues{valid: []float64{1e-6, 50, 1e30}, invalid: []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, -1}}}},
			accepts: []Rule{Rprop{LR: 0.01, EtaMinus: 0.5, EtaPlus: 1.2, StepSizeMin: 0, StepSizeMax: 0}},
			rejects: []caseReject{
				// The zero value's EtaMinus is 0, outside (0, 1).
				{Rprop{LR: 0.01}, []string{"Rprop.EtaMinus"}},
				// A maximum below the minimum names the minimum.
				{withField(DefaultRprop(), "StepSizeMax", 1e-7), []string{"Rprop.StepSizeMin", "1e-06", "1e-07"}},
			},
			// The factors must stay on their side of 1 in the element type.
			overflows: []caseOverflow{
				{withField(DefaultRprop(), "StepSizeMax", 1e39), "StepSizeMax", false},
				{withField(DefaultRprop(), "EtaMinus", 1-1e-10), "EtaMinus", false},
				{withField(DefaultRprop(), "EtaPlus", 1+1e-10), "EtaPlus", false},
				{withField(DefaultRprop(), "EtaMinus", 1e-50), "EtaMinus", false},
			},
			groupKeys: caseKeys("lr:LR", "etas:EtaMinus,EtaPlus", "step_sizes:StepSizeMin,StepSizeMax",
				"foreach", "maximize:Maximize", "differentiable", "capturable"),
			scalarKeys: []string{"step"},
			configs: []caseConfig{
				{DefaultRprop(), [3]string{"prev", "step_size"}},
				{Rprop{LR: 0.1, EtaMinus: 0.25, EtaPlus: 2, StepSizeMin: 0.01, StepSizeMax: 0.5, Maximize: true}, [3]string{"prev", "step_size"}},
			},
			digestConfigs: []Rule{
				DefaultRprop(),
				Rprop{LR: 0.125, EtaMinus: 0.25, EtaPlus: 2, StepSizeMin: 0.01, StepSizeMax: 0.5, Maximize: true},
			},
		},
		{
			name: "ASGD",
			classes: []caseClass{
				// ASGD(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0)
				{name: "ASGD", constructor: DefaultASGD(), torch: ASGD{LR: 1e-2, Lambd: 1e-4, Alpha: 0.75, T0: 1e6}, golden: "asgd_*"},
			},
			ranges: []caseRange{{"LR", torchRanges.nonNegative}, {"Lambd", torchRanges.nonNegative}, {"Alpha", torchRanges.nonNegative}, {"T0", torchRanges.finite},
				{"WeightDecay", torchRanges.nonNegative}},
			accepts: []Rule{ASGD{LR: 0.01, Alpha: 0, T0: -5}, ASGD{}},
			overflows: []caseOverflow{
				// eta is a float32 scalar whatever the element type.
				{withField(DefaultASGD(), "LR", 1e39), "LR", true},
				{ASGD{LR: 1, Lambd: 1e39, Alpha: 0.75, T0: 1e6}, "Lambd", false},
			},
			groupKeys: caseKeys("lr:LR", "lambd:Lambd", "alpha:Alpha", "t0:T0",
				"weight_decay:WeightDecay", "foreach", "maximize:Maximize", "differentiable",
				"capturable"),
			scalarKeys: []string{"step", "eta", "mu"},
			configs: []caseConfig{
				{DefaultASGD(), [3]string{"ax"}},
				{ASGD{LR: 0.05, Lambd: 0.1, Alpha: 0.5, T0: 2, WeightDecay: 0.1, Maximize: true}, [3]string{"ax"}},
				// Averages from step 3 (T0+2).
				{ASGD{LR: 0.05, Lambd: 0.1, Alpha: 0.5, T0: 1, WeightDecay: 0.1}, [3]string{"ax"}},
			},
			// ASGD averages from step T0+2.
			digestConfigs: []Rule{
				DefaultASGD(),
				ASGD{LR: 0.05, Lambd: 0.1, Alpha: 0.5, T0: 4, WeightDecay: 0.01, Maximize: true},
				ASGD{LR: 0.02, Lambd: 1e-3, Alpha: 0.75, T0: 10},
			},
		},
		{
			name: "Lion",
			classes: []caseClass{
				// lion-pytorch's Lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
				{name: "Lion", constructor: DefaultLion(), torch: Lion{LR: 1e-4, Beta1: 0.9, Beta2: 0.99}},
			},
			ranges:    []caseRange{{"LR", torchRanges.nonNegative}, {"Beta1", torchRanges.unitClosed}, {"Beta2", torchRanges.unitClosed}, {"WeightDecay", torchRanges.nonNegative}},
			accepts:   []Rule{Lion{LR: 1e-4, Beta1: 1, Beta2: 1}, Lion{LR: 1e-4}},
			overflows: []caseOverflow{{Lion{LR: 1e20, Beta1: 0.9, Beta2: 0.99, WeightDecay: 1e20}, "WeightDecay", false}},
			momentum:  "Beta1",
			// lion-pytorch's keywords, without its implementation choices.
			groupKeys:  caseKeys("lr:LR", "betas:Beta1,Beta2", "weight_decay:WeightDecay", "maximize:Maximize"),
			scalarKeys: []string{"step"},
			configs: []caseConfig{
				{DefaultLion(), [3]string{"exp_avg"}},
				{Lion{LR: 0.01, Beta1: 0.5, Beta2: 0.9, WeightDecay: 0.1, Maximize: true}, [3]string{"exp_avg"}},
			},
			digestConfigs: []Rule{
				DefaultLion(),
				Lion{LR: 0.01, Beta1: 0.5, Beta2: 0.9, WeightDecay: 0.1, Maximize: true},
			},
			digest: 0x68b55dbb673a0e8f, // NAdam, RAdam, Adamax, Adadelta, Rprop, ASGD and Lion, scalar state included
		},
	}
}

// caseConfigs returns every row's configs, in table order.
func caseConfigs() []caseConfig {
	var out []caseConfig
	for _, c := range ruleCases() {
		out = append(out, c.configs...)
	}
	return out
}

// lazyConfigs returns the configs of the rules whose state torch creates at
// a parameter's first step (lazyState), with their rows.
func lazyConfigs(t testing.TB) []lazyConfig {
	var out []lazyConfig
	for _, c := range ruleCases() {
		for _, cfg := range c.configs {
			if lazyState(mustKernelKind(t, cfg.rule)) {
				out = append(out, lazyConfig{cfg, c})
			}
		}
	}
	return out
}

// lazyConfig is a config of a rule whose state is created lazily.
type lazyConfig struct {
	caseConfig
	row ruleCase
}

// caseOfClass returns the row and the class of a torch class name.
func caseOfClass(t testing.TB, class string) (ruleCase, caseClass) {
	t.Helper()
	for _, c := range ruleCases() {
		for _, cl := range c.classes {
			if cl.name == class {
				return c, cl
			}
		}
	}
	t.Fatalf("no rule case for the torch class %q", class)
	return ruleCase{}, caseClass{}
}

// mustKernelKind returns the kernel of a valid rule.
func mustKernelKind(t testing.TB, r Rule) kernels.Kind {
	t.Helper()
	k, err := KernelKind(r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// derefRule returns the value behind a pointer rule.
func derefRule(r Rule) Rule {
	if v := reflect.ValueOf(r); v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Elem().Interface().(Rule)
	}
	return r
}

// pointerTo returns a pointer to a copy of a value rule.
func pointerTo(r Rule) Rule {
	if reflect.TypeOf(r).Kind() == reflect.Pointer {
		return r
	}
	p := reflect.New(reflect.TypeOf(r))
	p.Elem().Set(reflect.ValueOf(r))
	return p.Interface().(Rule)
}

// withField returns a copy of the value of rule r with a field set: a
// float64 to v, a bool to v != 0.
func withField(r Rule, field string, v float64) Rule {
	r = derefRule(r)
	p := reflect.New(reflect.TypeOf(r))
	p.Elem().Set(reflect.ValueOf(r))
	f := p.Elem().FieldByName(field)
	if f.Kind() == reflect.Bool {
		f.SetBool(v != 0)
	} else {
		f.SetFloat(v)
	}
	return p.Elem().Interface().(Rule)
}

// reflectField returns a field of rule r (a value or a pointer): a
// float64 or a bool.
func reflectField(r Rule, field string) any {
	return reflect.ValueOf(derefRule(r)).FieldByName(field).Interface()
}

// reflectLR returns a rule's learning rate.
func reflectLR(r Rule) float64 { return reflectField(r, "LR").(float64) }
