#!yaml|gpg
# A second cluster on a further host, with its own scope, using the demo cluster's etcd.
# It has one db member and stays empty until a host named pg5 joins the bed. Its backups
# go to a posix repository: a path on the db hosts (one here; with several, a filesystem
# they all mount).
# Its passwords are GPG-encrypted, as real pillar should be (README, Security): the
# master decrypts them with the bed's test key (tests/testbed/gpg/, public, for the bed
# only), which the bed imports into the master's gpg_keydir.
pgsalt:
  clusters:
    second:
      network: 10.77.0.0/24
      members:
        pg5: {roles: [db, balancer]}
      dcs:
        cluster: demo
      users:
        superuser:
          password: |
            -----BEGIN PGP MESSAGE-----

            hQGMA8GKKpBGIhX9AQwAgIaCvOTR0P7Qv3gsv3wbNI/5IVBB8yTTIRzoyH37L6kS
            1O9JZ2FVfzP+TgmSJlwusc4kE/pDLMoXMcjanknhwaciRy0Tb8jzGBxlh/uX5vt+
            2CyRoiEO5AqP8GeWdUaoRtL2hPkp39K0ptllebiFK68w1Y4XYRucC1xKMLIe+4J0
            fiWcGvf5Tr82fWrrcwMsPvGFzwlJ4dDg/GQLRisiH4RixCV932U6CBzidi3flFYA
            W0D59XMSyFFsvqJD3hQwxzZw4k+FtyKfNTKZLBCm3IWb2jLEmRdr2k3g7mYdGKsg
            oknUT2h85ANJ6y+pqSsjW4ijMUP5A1ONFokBdc03IG61JrzMx9mKPiAQWIDvB7c7
            bDVOO33m8tsNsdaxojHpfNOQjVBPmssDXKpKo63wdHxhO4tId6iwR0o6PC3s4Esj
            /FLkYy9mtgBXMrsTCjHxss/iLtcX2IRW+O1ekUFloAWK75pSjXRu6AhC4/5+gYku
            P/k3fbtDeFiSoSbx3IoX0lQBWUK6OZsFDGQijRItU1IzUy1dI/iqS4l2qMjG0ylF
            VQvufvtgvb38MBg+Cv34IHPkeNjDyYu6dASfmJnvbpbbrfbHAIsJifq/SvP3U1EM
            w1f8Zxk=
            =gLqr
            -----END PGP MESSAGE-----
        replication:
          password: |
            -----BEGIN PGP MESSAGE-----

            hQGMA8GKKpBGIhX9AQv9EKplvXTwC5KglwCl0yNOPR0YjPCfe81K/xMEc28ruAOr
            Vqn9XZboRGGK9dcEvGQdxgOuMLuZhixFSTkwLSXkYuHbLdCvZKb+HgF7NNix+yqa
            m28d2M5W8bOcAdIwGsj7lXa4P+Nh16P8Zjl3/PtYQCWYrtQxUZXLFiFdLfzyn29i
            wixEY1MLhOeqGe1+v4wr6cHYSeGGgd4dRMxDhtqDruST8E9qqAXeqCoM2MO4+sp4
            311mkfIK24IO24X0V3ToSdO1IOxSwDLk/9sa2P3eLWWG0QsL6LGYm06an/uCyt3C
            tUqj96MoPSm87j1dchbvgrqkddszVMvrQfx3mIXfoA9Iuo48rBayRNw9HX3hnFX4
            D5fmYD3XjYVdKz909QOKkUR+r0vKBps/Lcb3YJn1xwiUZ62pbWbl+Gex7+84rqma
            fbvOOFWREaT+G/89aXqs6U1azzfpDbL2DSSoDvaaui3F2x9vekEQLdXUe1UA5gFP
            L0oBdJLyU2tVcJcS9SV10lYBAyrQ5CItWu+qPc9f6GUVRmhQ+6iAq2elaE+4TC8E
            bU7KAXYqJJ33/jEFO12FjDhoiODBLWg3iHAroFgZ0mFB3Zvqg2RUTIpEqJobH6Vy
            ecxFrMaD5A==
            =0HEd
            -----END PGP MESSAGE-----
        rewind:
          password: |
            -----BEGIN PGP MESSAGE-----

            hQGMA8GKKpBGIhX9AQv/WmYrzl6v/zbQKBnVCTWPg4npmz16guyYaZBgHPkSZmUt
            a5x3KgOkCmdGEV19Y5O7S0uE2nOuwl6EUYlwrxdcbRUbwZnAaVoGxVg8iB3inDxY
            oL7LBniEsI1HnJ59CAgKA75haGg75r1AU254UACFvKt18ruSyhS2eh37Hpctm07G
            WYLkT3GVqmjXHokEM5nEBHpR5rSs3SKf3UL+iYMwMg/pPjkwG7Rucs/SXQ/oQL35
            Rm2+2BL8ZFH/ViRJVRngOxxq3gwu0xQ0CBtUTvCGHTC+upqamhy1nLX9GVh4ZACq
            l4Vmkp49tfkkYZ7NyOjRiN9cqBB1fL1PEHBbKcOeBIWDxmKTozsX+gTUYvpKjjTv
            Zqws2en0ocSFMa1wazpjHvWOq7D9qS9J2tzGFGYmKkqOUZq5keeQE952OfVdJW1+
            Kesi9FNvA0pwNhsYAVzkm0x4UKLRaHXQxlMIiCD1CdACmLbsbMoh4joRMaQdO8yM
            RrODDhRh9GKPl7vKSd1J0lABrRHVbeQ0L00jWLTQURq6qGnxJZx4ovIjYv0NTJ5l
            VtFgpVbIQuV9adyNN8F9hE4blIaSyehld8UE/FZYBk0KQqEM9A/e57HcNFDII7yj
            0g==
            =+Vrf
            -----END PGP MESSAGE-----
        pgbouncer_auth:
          password: |
            -----BEGIN PGP MESSAGE-----

            hQGMA8GKKpBGIhX9AQwAqlbOzs8NRoz7UkeEEifbn+Iuszz3osVH6l2BnYYwcOw1
            gSeGS2GjeX5BZaZJXc+6fFqb8lKBcTp4GQJ2J6vHmPG0FTgKc1NxLeRR13Cajeng
            4Ls3H6aPvPATI64X0unCywd99VmYE/PHVLugd40EKCPisToP+rCjE6H2sbRRnrFc
            OWavwNszl3HQYPPUyg7r2f2cMghho/VW9nw2spCZP2Ye2vNU0aOKHgmwBU+do0FI
            yrdelT0ygY8PZBmLXAYOgIwzy3OAJ5T3GVOv4PKuqlzdl8lsTKfN7l+R3tyfoCTZ
            wFpGgHTFJxYRyv/Xjsc4njl/e/8Uy5S5kZ0+OP7YbjI6B4MNde2tFAaug9jwOLuk
            3fXDvqQNxe1oK4xzeu55Ob1jMELY7Q1SQd0iRN6yU/eRNf+4MF+0XfsKrJnwHF4J
            Zqi2UHq+4qaSd7+5505lsSN8eHYBA94D4h9zV/5T0bcvR7qttziFZW396DfIM99N
            Rx3x7doGM1cP2KOMK0dc0lQB1yJx0onQUxCHdi0zA8DnPo1HqDGwstOFlM6RXsAu
            sGX6VhmqOFSqIrmKoRdoIg4+uN8gJm/qL/yjcj44OnKWL8jkmAQ+0XoedTDF5wP7
            CE6ILdc=
            =1DCL
            -----END PGP MESSAGE-----
        rest_api:
          password: |
            -----BEGIN PGP MESSAGE-----

            hQGMA8GKKpBGIhX9AQv/T0MeGKsY1c9oAebVKI1GJgSDUlA+jlquVW8W+FgF91vK
            j8yTK1bZ+t6UV5iyWTuINyn+N3OKYqJ8KHJj8u79HKIeiiOgYCWtXs3xoWHEMQcJ
            M/cBPXsrM5fOBXqp1Apj8iUL0Az+ON9v/TWouEKtKjXXtbRxarJMevcv2nMZBG5q
            FcK/bDYSPYg3+zhql6sKa11kHHyoJtdTYdA3rC3uhDyKuV3KLy4Bi/tiCO4rlQJy
            dakNY5f3ad/ehWAa5881JNZRX7EHbxWy25RYh0xuHSra0u/UaTFK4fEmubvbCru5
            srUG+CXMz+aqKnrVKUgeGIQ9izTLnqUhR1PnZcFFfLSOglb0IC2kvSQ4nZ/jMK2K
            e7RRlAWvVI/7Z+ttWTmhvS24zKUhsrXpR1l21t4LS+FPgOUWLb/WK21kJQ/JddBQ
            fujtIA4+4u+wPY5D0fqRXYmpdY571mRZn65Edls3Vehmmfeq/jJ5H8BjrrVU8YqJ
            xnM/gGG1VXFmcPM3Hdwa0lUBEZrO6DX3S/+I+4DT4H3wjx9+l43b/PEvuuGhESxs
            bCXL5aeuXLJYDiPDicThCXYNOvHMwMsmNi6YwACaxNRyXKlyrjoJfLfi9I8iRV+p
            TBtmtx+d
            =YaNJ
            -----END PGP MESSAGE-----
        haproxy_stats:
          password: |
            -----BEGIN PGP MESSAGE-----

            hQGMA8GKKpBGIhX9AQv/YRJfyJ4GF5TCTTvBNbOVZkVVlY1qqWH3ZMiaRao0iaE0
            akyrVSJHxG97vZZgM+i4E9lepBq2oM+ApSrkNXOFbbd2tB4ylfAa1oVtkWSTkDZG
            HR83qs8lz93eRr5Wpou99Jz2qqotDzLWwARvOMfrm71xbNybqC1ain2bGXNicVBO
            8I/wynCort9bD4XVCbd1oc8HulyXEJWj64uuoDC+xbnQvw5WrymbOatPfMOUK1zD
            HcJTOz82E+QmMP04ICYTYY1DDWYRE0jsKdEC9eNEg4J5asWNWoA/fzCq1z84K5dt
            Ook812hKDVfLUtmZGqWYE1tOCvmFgAuw4Xf+Un6WL34ousIge1MtD8hGJuhgBNHk
            1P0J4Q8tXjRiekoD0rZOzQkDH95wtu7JYaC88ZpT6ko5dppLcbke8SUTGV8qJoqt
            LtZNTDkxBO1wpAbNHewUye8EOW3Nauj4ZVGldphuetsTnSaSs+ww8HIWIA7zfISU
            l3kzRvnxxQp1t6qZlBiO0lgBy2BsP6gKK3NxLwcFLXEupA0/i2eKUFk+UvgSwBaR
            TjN2QaeuRcozDE1MYcmIY18gVggPxkWTdxLOHuYM0Y8dSWbIjQAu46gAiqZ8zizM
            EiKeINtaAWai
            =HXCj
            -----END PGP MESSAGE-----
        etcd:
          password: |
            -----BEGIN PGP MESSAGE-----

            hQGMA8GKKpBGIhX9AQv/VyUDqfgJYoCojz/0xWujUIC7dsjPvfwNMNLVXxTRCjK0
            qJHzSrPcujHfItFRq05a9UhIWZ8L5UAs3c7r9z1sYSolwyMW12pJ+Sf+0YSAQUXM
            ClSl5C5YB11ToohHiWD0tIjhjRsky6it9iNCw/kg1KVQak489RpKKrE6bzrfv0d4
            TeVaBwnmAK5iLYcclujvJqUecztrh6L5sovFsXdhAPYAVKRU05Ms6ForKZp0kRYO
            HYaDhN7mqZ7fVi1s4mZErMTXNTHuRBAv3F0Op70wZDCvRPNZVumvBGBUPdKur+ea
            6laqLDGMaCySh5mp1ma6YCyJtXXXqUKf0prD9vueBvow1AdW8aXmFGoIL+hkHbVU
            MPnAqVG2IZpMb7/CPYdWMigf/XgrFk4qqaYnIKragAr0CqS1keXW1j5T17esYat3
            AxK/6rfBTRo4TVwT2E90x+LulUT0AEBt+75gazZP4X0scMfc7H4pwKJ2AmEJ5qGW
            NbElnaBq7v4TYLi0Wm3/0lUBXONlMZmXBQwJqotDORoLbDXYv+Ugyz584MlJMVP7
            Xgx0WUWmfNISriU20Ri92m+E1CC15cQAKBhRPdUvNGcXc8k0t2GEl7ZjTb3clXtw
            aRSdunce
            =Fjh4
            -----END PGP MESSAGE-----
      roles:
        shop:
          password: |
            -----BEGIN PGP MESSAGE-----

            hQGMA8GKKpBGIhX9AQv+PBCCBgQ7vlzGpQcFJW8Waohfd4Sd9zOneZtVqhuTePH2
            O8M7BSD1RDqjzQqmilWpCW5R58I7V3y31BXdIeJ3CixX1IFthX2wnIaYDoO0kGSR
            H8YJpqjnt6L3zp0gfPJbbJciji1VQonlVPrSj8rzo7XTtN3aQ0eO5xxa1NOkd1lD
            s+w2biMQoIK75x8vuKEC9uV4lMF8tg7J15dl5+0+oSeCZQAdntzwhlTG/mf5eguc
            Ok7SovVDRUu979TCL+kzusWFKhKadmx4boy9M2zrCpEu9PyPXsYAAQxIkAVG8CsS
            Gs+JNjZ721CH4kXhU7Bc1naR6JhT8BPP3AHZMVxOlfQGSumLl4TzBSRbu26Os3Yp
            VoHRfbYbrsWj1OBVOzdXe16eEYmkLV/HhK4LPHuKwP98DB6oHZuDcKAWcSFSft7c
            vEqWdDtvzcfsrte0EkQG8KdAr37yV2tkrkacbO8rY7ukbKQm6XxRQPcOXYYqr0Nr
            6D1dekL8lwaJVfOgS2VL0lgBo0w0ewmmx3BxzoCAKtl0vy6KZ+AWk2qnsTDd9GXZ
            Xm3j3a+VBhTe8bfEfqm1S7VzylrtZOhfCk9/0qnlgMo+EL6vIXeXah4niUeQxO3x
            NxMp1KK60MR1
            =v+bh
            -----END PGP MESSAGE-----
      databases:
        shop: {owner: shop}
      pgbackrest:
        enabled: true
        repository: {type: posix, path: /var/lib/pgbackrest-posix}
