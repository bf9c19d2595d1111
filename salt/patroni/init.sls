include:
  - patroni.package
  - patroni.config
  - patroni.service
