package optim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// This file maps a group's rule to and from an entry of torch's
// param_groups: the keyword arguments of the torch class, named as torch
// names them, and params, the indices of the group's parameters.

// className is the torch class of a rule: Adam with Decoupled is AdamW.
func className(r Rule) string {
	switch r := r.(type) {
	case SGD:
		return "SGD"
	case Adagrad:
		return "Adagrad"
	case RMSProp:
		return "RMSprop"
	case Adam:
		if r.Decoupled {
			return "AdamW"
		}
		return "Adam"
	case Adadelta, Adamax, ASGD, Lion, NAdam, RAdam, Rprop:
		return ruleName(r) // torch's class names, and Lion's own
	}
	return ruleName(r)
}

// torchGroup encodes group [first, end) under r in torch's layout. Keys
// that do not change the arithmetic are written with torch's defaults
// (foreach null, differentiable, capturable and fused false), because
// torch's step reads them from the group.
func torchGroup(r Rule, first, end int) json.RawMessage {
	params := make([]int, end-first)
	for i := range params {
		params[i] = first + i
	}
	var v any
	switch r := r.(type) {
	case SGD:
		v = struct {
			LR             float64 `json:"lr"`
			Momentum       float64 `json:"momentum"`
			Dampening      float64 `json:"dampening"`
			WeightDecay    float64 `json:"weight_decay"`
			Nesterov       bool    `json:"nesterov"`
			Maximize       bool    `json:"maximize"`
			Foreach        *bool   `json:"foreach"`
			Differentiable bool    `json:"differentiable"`
			Params         []int   `json:"params"`
		}{r.LR, r.Momentum, r.Dampening, r.WeightDecay, r.Nesterov, r.Maximize, nil, false, params}
	case Adagrad:
		v = struct {
			LR                      float64 `json:"lr"`
			LRDecay                 float64 `json:"lr_decay"`
			Eps                     float64 `json:"eps"`
			WeightDecay             float64 `json:"weight_decay"`
			InitialAccumulatorValue float64 `json:"initial_accumulator_value"`
			Foreach                 *bool   `json:"foreach"`
			Maximize                bool    `json:"maximize"`
			Differentiable          bool    `json:"differentiable"`
			Params                  []int   `json:"params"`
		}{r.LR, r.LRDecay, r.Eps, r.WeightDecay, r.InitialAccumulatorValue, nil, r.Maximize, false, params}
	case RMSProp:
		v = struct {
			LR             float64 `json:"lr"`
			Momentum       float64 `json:"momentum"`
			Alpha          float64 `json:"alpha"`
			Eps            float64 `json:"eps"`
			Centered       bool    `json:"centered"`
			WeightDecay    float64 `json:"weight_decay"`
			Foreach        *bool   `json:"foreach"`
			Maximize       bool    `json:"maximize"`
			Differentiable bool    `json:"differentiable"`
			Params         []int   `json:"params"`
		}{r.LR, r.Momentum, r.Alpha, r.Eps, r.Centered, r.WeightDecay, nil, r.Maximize, false, params}
	case Adam:
		v = struct {
			LR             float64    `json:"lr"`
			Betas          [2]float64 `json:"betas"`
			Eps            float64    `json:"eps"`
			WeightDecay    float64    `json:"weight_decay"`
			AMSGrad        bool       `json:"amsgrad"`
			Maximize       bool       `json:"maximize"`
			Foreach        *bool      `json:"foreach"`
			Capturable     bool       `json:"capturable"`
			Differentiable bool       `json:"differentiable"`
			Fused          bool       `json:"fused"`
			Params         []int      `json:"params"`
		}{r.LR, [2]float64{r.Beta1, r.Beta2}, r.Eps, r.WeightDecay, r.AMSGrad, r.Maximize, nil, false, false, false, params}
	case NAdam:
		v = struct {
			LR                   float64    `json:"lr"`
			Betas                [2]float64 `json:"betas"`
			Eps                  float64    `json:"eps"`
			WeightDecay          float64    `json:"weight_decay"`
			MomentumDecay        float64    `json:"momentum_decay"`
			DecoupledWeightDecay bool       `json:"decoupled_weight_decay"`
			Foreach              *bool      `json:"foreach"`
			Maximize             bool       `json:"maximize"`
			Capturable           bool       `json:"capturable"`
			Differentiable       bool       `json:"differentiable"`
			Params               []int      `json:"params"`
		}{r.LR, [2]float64{r.Beta1, r.Beta2}, r.Eps, r.WeightDecay, r.MomentumDecay, r.Decoupled, nil, r.Maximize, false, false, params}
	case RAdam:
		v = struct {
			LR                   float64    `json:"lr"`
			Betas                [2]float64 `json:"betas"`
			Eps                  float64    `json:"eps"`
			WeightDecay          float64    `json:"weight_decay"`
			DecoupledWeightDecay bool       `json:"decoupled_weight_decay"`
			Foreach              *bool      `json:"foreach"`
			Maximize             bool       `json:"maximize"`
			Capturable           bool       `json:"capturable"`
			Differentiable       bool       `json:"differentiable"`
			Params               []int      `json:"params"`
		}{r.LR, [2]float64{r.Beta1, r.Beta2}, r.Eps, r.WeightDecay, r.Decoupled, nil, r.Maximize, false, false, params}
	case Adamax:
		v = struct {
			LR             float64    `json:"lr"`
			Betas          [2]float64 `json:"betas"`
			Eps            float64    `json:"eps"`
			WeightDecay    float64    `json:"weight_decay"`
			Foreach        *bool      `json:"foreach"`
			Maximize       bool       `json:"maximize"`
			Differentiable bool       `json:"differentiable"`
			Capturable     bool       `json:"capturable"`
			Params         []int      `json:"params"`
		}{r.LR, [2]float64{r.Beta1, r.Beta2}, r.Eps, r.WeightDecay, nil, r.Maximize, false, false, params}
	case Adadelta:
		v = struct {
			LR             float64 `json:"lr"`
			Rho            float64 `json:"rho"`
			Eps            float64 `json:"eps"`
			WeightDecay    float64 `json:"weight_decay"`
			Foreach        *bool   `json:"foreach"`
			Capturable     bool    `json:"capturable"`
			Maximize       bool    `json:"maximize"`
			Differentiable bool    `json:"differentiable"`
			Params         []int   `json:"params"`
		}{r.LR, r.Rho, r.Eps, r.WeightDecay, nil, false, r.Maximize, false, params}
	case Rprop:
		v = struct {
			LR             float64    `json:"lr"`
			Etas           [2]float64 `json:"etas"`
			StepSizes      [2]float64 `json:"step_sizes"`
			Foreach        *bool      `json:"foreach"`
			Maximize       bool       `json:"maximize"`
			Differentiable bool       `json:"differentiable"`
			Capturable     bool       `json:"capturable"`
			Params         []int      `json:"params"`
		}{r.LR, [2]float64{r.EtaMinus, r.EtaPlus}, [2]float64{r.StepSizeMin, r.StepSizeMax}, nil, r.Maximize, false, false, params}
	case ASGD:
		v = struct {
			LR             float64 `json:"lr"`
			Lambd          float64 `json:"lambd"`
			Alpha          float64 `json:"alpha"`
			T0             float64 `json:"t0"`
			WeightDecay    float64 `json:"weight_decay"`
			Foreach        *bool   `json:"foreach"`
			Maximize       bool    `json:"maximize"`
			Differentiable bool    `json:"differentiable"`
			Capturable     bool    `json:"capturable"`
			Params         []int   `json:"params"`
		}{r.LR, r.Lambd, r.Alpha, r.T0, r.WeightDecay, nil, r.Maximize, false, false, params}
	case Lion:
		// No torch class: lion-pytorch's Lion keywords, without its
		// implementation choices.
		v = struct {
			LR          float64    `json:"lr"`
			Betas       [2]float64 `json:"betas"`
			WeightDecay float64    `json:"weight_decay"`
			Maximize    bool       `json:"maximize"`
			Params      []int      `json:"params"`
		}{r.LR, [2]float64{r.Beta1, r.Beta2}, r.WeightDecay, r.Maximize, params}
	}
	return json.RawMessage(mustJSON(v))
}

// ignoredGroupKeys do not change the arithmetic: torch's implementation
// choices, and initial_lr, which torch's LR schedulers add to the group
// and which belongs to the schedule's state.
var ignoredGroupKeys = map[string]bool{
	"foreach": true, "capturable": true, "differentiable": true, "fused": true, "initial_lr": true,
}

// groupKeys are the hyperparameter keys of each torch class; all are
// required.
var groupKeys = map[string][]string{
	"SGD":     {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"},
	"Adagrad": {"lr", "lr_decay", "eps", "weight_decay", "initial_accumulator_value", "maximize"},
	"RMSprop": {"lr", "momentum", "alpha", "eps", "centered", "weight_decay", "maximize"},
	"Adam":    {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"},
	"AdamW":   {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"},
	// torch 2.11's NAdam and RAdam always carry decoupled_weight_decay.
	"NAdam":    {"lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay", "maximize"},
	"RAdam":    {"lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "maximize"},
	"Adamax":   {"lr", "betas", "eps", "weight_decay", "maximize"},
	"Adadelta": {"lr", "rho", "eps", "weight_decay", "maximize"},
	"Rprop":    {"lr", "etas", "step_sizes", "maximize"},
	"ASGD":     {"lr", "lambd", "alpha", "t0", "weight_decay", "maximize"},
	"Lion":     {"lr", "betas", "weight_decay", "maximize"},
}

// parseGroup decodes entry gi of param_groups as a group of torch class
// class over the parameters [first, end), validating the rule for T. Torch
// 2's Adam and AdamW may carry decoupled_weight_decay, which must agree
// with the class.
func parseGroup[T float32 | float64](op string, raw json.RawMessage, gi int, class string, first, end int) (Rule, error) {
	bad := func(format string, args ...any) error {
		return ckErr(op, nil, "param_groups[%d]: %s", gi, fmt.Sprintf(format, args...))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, bad("not a JSON object")
	}
	want, ok := groupKeys[class]
	if !ok {
		return nil, bad("unknown optimizer class %q", class)
	}
	for k := range m {
		if !ignoredGroupKeys[k] && k != "params" && !slices.Contains(want, k) &&
			!(k == "decoupled_weight_decay" && (class == "Adam" || class == "AdamW")) {
			return nil, bad("unknown key %q for %s", k, class)
		}
	}
	var params []int
	if err := json.Unmarshal(m["params"], &params); err != nil || params == nil {
		return nil, bad("params is not a list of indices")
	}
	if len(params) != end-first {
		return nil, &ShapeError{Op: op, What: fmt.Sprintf("params of group %d", gi), Index: -1, Got: len(params), Want: end - first}
	}
	for j, p := range params {
		if p != first+j {
			return nil, bad("params[%d] = %d, want %d: the groups' parameters must be numbered in order", j, p, first+j)
		}
	}
	var err error
	// A missing key and null both fail here: json.Unmarshal of null into
	// a number or a boolean would leave it zero without an error.
	null := func(key string) bool { return string(bytes.TrimSpace(m[key])) == "null" }
	num := func(key string) float64 {
		var x float64
		if e := json.Unmarshal(m[key], &x); (e != nil || null(key)) && err == nil {
			err = bad("%q: missing or not a number", key)
		}
		return x
	}
	flag := func(key string) bool {
		var x bool
		if e := json.Unmarshal(m[key], &x); (e != nil || null(key)) && err == nil {
			err = bad("%q: missing or not a boolean", key)
		}
		return x
	}
	// pair decodes a key holding two numbers (betas, etas, step_sizes);
	// NaNs on error, which err reports.
	pair := func(key string) (float64, float64) {
		var x []float64
		if e := json.Unmarshal(m[key], &x); (e != nil || len(x) != 2) && err == nil {
			err = bad("%q: missing or not two numbers", key)
		}
		x = append(x, math.NaN(), math.NaN())
		return x[0], x[1]
	}
	var r Rule
	switch class {
	case "SGD":
		r = SGD{LR: num("lr"), Momentum: num("momentum"), Dampening: num("dampening"), WeightDecay: num("weight_decay"),
			Nesterov: flag("nesterov"), Maximize: flag("maximize")}
	case "Adagrad":
		r = Adagrad{LR: num("lr"), LRDecay: num("lr_decay"), Eps: num("eps"), WeightDecay: num("weight_decay"),
			InitialAccumulatorValue: num("initial_accumulator_value"), Maximize: flag("maximize")}
	case "RMSprop":
		r = RMSProp{LR: num("lr"), Momentum: num("momentum"), Alpha: num("alpha"), Eps: num("eps"),
			Centered: flag("centered"), WeightDecay: num("weight_decay"), Maximize: flag("maximize")}
	case "NAdam":
		b1, b2 := pair("betas")
		r = NAdam{LR: num("lr"), Beta1: b1, Beta2: b2, Eps: num("eps"), WeightDecay: num("weight_decay"),
			MomentumDecay: num("momentum_decay"), Decoupled: flag("decoupled_weight_decay"), Maximize: flag("maximize")}
	case "RAdam":
		b1, b2 := pair("betas")
		r = RAdam{LR: num("lr"), Beta1: b1, Beta2: b2, Eps: num("eps"), WeightDecay: num("weight_decay"),
			Decoupled: flag("decoupled_weight_decay"), Maximize: flag("maximize")}
	case "Adamax":
		b1, b2 := pair("betas")
		r = Adamax{LR: num("lr"), Beta1: b1, Beta2: b2, Eps: num("eps"), WeightDecay: num("weight_decay"), Maximize: flag("maximize")}
	case "Adadelta":
		r = Adadelta{LR: num("lr"), Rho: num("rho"), Eps: num("eps"), WeightDecay: num("weight_decay"), Maximize: flag("maximize")}
	case "Rprop":
		etaMinus, etaPlus := pair("etas")
		lo, hi := pair("step_sizes")
		r = Rprop{LR: num("lr"), EtaMinus: etaMinus, EtaPlus: etaPlus, StepSizeMin: lo, StepSizeMax: hi, Maximize: flag("maximize")}
	case "ASGD":
		r = ASGD{LR: num("lr"), Lambd: num("lambd"), Alpha: num("alpha"), T0: num("t0"), WeightDecay: num("weight_decay"),
			Maximize: flag("maximize")}
	case "Lion":
		b1, b2 := pair("betas")
		r = Lion{LR: num("lr"), Beta1: b1, Beta2: b2, WeightDecay: num("weight_decay"), Maximize: flag("maximize")}
	default: // Adam, AdamW
		b1, b2 := pair("betas")
		decoupled := class == "AdamW"
		if _, ok := m["decoupled_weight_decay"]; ok && flag("decoupled_weight_decay") != decoupled {
			return nil, bad("decoupled_weight_decay disagrees with the class %s", class)
		}
		r = Adam{LR: num("lr"), Beta1: b1, Beta2: b2, Eps: num("eps"), WeightDecay: num("weight_decay"),
			AMSGrad: flag("amsgrad"), Maximize: flag("maximize"), Decoupled: decoupled}
	}
	if err != nil {
		return nil, err
	}
	r, err = normalizeFor[T](r)
	if err != nil {
		return nil, inGroup(err, gi)
	}
	return r, nil
}
