base:
  '*':
    - pgsalt.mine
    - pgsalt.demo
    - pgsalt.second
    - pgsalt.dr
    - pgsalt.bookworm
