module github.com/k8s-ee/k8s-ee/local/images/programs

go 1.25.0
