module github.com/simdoptim/optim/asm

go 1.24.0

require (
	github.com/mmcloughlin/avo v0.6.0
	github.com/simdoptim/optim v0.0.0
)

require (
	golang.org/x/mod v0.28.0 // indirect
	golang.org/x/sync v0.19.0 // indirect
	golang.org/x/tools v0.36.0 // indirect
)

replace github.com/simdoptim/optim => ../
