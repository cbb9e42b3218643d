package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/klauspost/cpuid/v2"
	"github.com/simdoptim/optim"
)

// printMachine reports the CPU, the features that decide between kernel
// sets, and the set in use with the dispatcher's reason.
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

// relevantFeatures are the features the dispatcher looks at: the avx2 set
// needs AVX, AVX2 and FMA3, the avx512 set AVX512F, VL, DQ and BW; on arm64
// ASIMD (NEON) is part of the baseline.
func relevantFeatures() []cpuid.FeatureID {
	if runtime.GOARCH == "arm64" {
		return []cpuid.FeatureID{cpuid.ASIMD, cpuid.FP, cpuid.SVE}
	}
	return []cpuid.FeatureID{cpuid.SSE2, cpuid.AVX, cpuid.AVX2, cpuid.FMA3, cpuid.BMI2,
		cpuid.AVX512F, cpuid.AVX512VL, cpuid.AVX512DQ, cpuid.AVX512BW}
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
