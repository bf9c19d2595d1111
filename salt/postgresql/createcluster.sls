{#- Patroni owns initdb: the server packages must not create a default cluster. The file
    is written before postgresql-common is installed, which keeps it (confold). #}
postgresql-package-no-default-cluster:
  file.managed:
    - name: /etc/postgresql-common/createcluster.conf
    - makedirs: True
    - contents: |
        # Managed by Salt (pgsalt). Patroni creates the cluster; packages create none.
        create_main_cluster = false
