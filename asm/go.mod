module github.com/simdoptim/optim/asm

go 1.24.0

require github.com/simdoptim/optim v0.0.0

replace github.com/simdoptim/optim => ../
