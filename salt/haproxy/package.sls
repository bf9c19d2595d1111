haproxy-package-installed:
  pkg.installed:
    - name: haproxy
    - install_recommends: False
