{#- Debian's unit starts only with a non-empty keepalived.conf: installing starts nothing. #}
keepalived-package-installed:
  pkg.installed:
    - name: keepalived
    - install_recommends: False
