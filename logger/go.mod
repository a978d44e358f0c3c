module converge.dev/logger

go 1.22
