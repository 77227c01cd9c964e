module libkms.dev/kms

go 1.19
