module vmapp-test/tar

go 1.22
