dcos_version = "2.1.1"
num_masters = 1
