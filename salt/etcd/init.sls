include:
  - etcd.package
  - etcd.config
  - etcd.service
  - etcd.auth
