package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/klauspost/cpuid/v2"
	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/internal/cpufeat"
)

// printMachine reports the CPU, the features that decide between kernel
// sets and what each set requires (internal/cpufeat's list), and the set in
// use with the dispatcher's reason.
func printMachine(w io.Writer) {
	brand := cpuid.CPU.BrandName
	if brand == "" {
		brand = "(no brand string)"
	}
	fmt.Fprintf(w, "== Machine\nCPU:        %s (%s/%s, %d logical cores)\n", brand, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	var have, lack []string
	for _, f := range relevantFeatures() {
		if cpuid.CPU.Supports(f) {
			have = append(have, f.String())
		} else {
			lack = append(lack, f.String())
		}
	}
	fmt.Fprintf(w, "features:   %s\n", orNone(have))
	fmt.Fprintf(w, "lacking:    %s\n", orNone(lack))
	for _, isa := range cpufeat.All() {
		if isa.Arch() == runtime.GOARCH {
			fmt.Fprintf(w, "%-11s %s\n", isa.String()+":", requirement(isa))
		}
	}
	if s := buildSettings(); s != "" {
		fmt.Fprintf(w, "build:      %s\n", s)
	}
	var sets []string
	for _, s := range optim.SupportedSets() {
		sets = append(sets, s.Name())
	}
	fmt.Fprintf(w, "usable:     %s\n", strings.Join(sets, ", "))
	fmt.Fprintf(w, "kernel set: %s\nbecause:    %s\n", optim.ISA(), optim.ISAReason())
}

// requirement says what the set needs of the CPU.
func requirement(isa cpufeat.ISA) string {
	var names []string
	for _, f := range isa.Features() {
		names = append(names, f.String())
	}
	if len(names) == 0 {
		return "needs nothing detectable (baseline on " + isa.Arch() + ")"
	}
	return "needs " + strings.Join(names, " ")
}

// relevantFeatures are the features the dispatcher looks at, every set's
// requirements on this architecture; on arm64, where NEON is baseline and
// not detected, what cpuid says of ASIMD, FP and SVE, for information.
func relevantFeatures() []cpuid.FeatureID {
	if runtime.GOARCH == "arm64" {
		return []cpuid.FeatureID{cpuid.ASIMD, cpuid.FP, cpuid.SVE}
	}
	var out []cpuid.FeatureID
	for _, isa := range cpufeat.All() {
		if isa.Arch() != runtime.GOARCH {
			continue
		}
		for _, f := range isa.Features() {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// buildSettings returns the build settings that change the kernels: the
// architecture level and the tags (noasm).
func buildSettings() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var out []string
	for _, s := range info.Settings {
		switch s.Key {
		case "GOAMD64", "GOARM64", "-tags":
			out = append(out, s.Key+"="+s.Value)
		}
	}
	return strings.Join(out, " ")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}
