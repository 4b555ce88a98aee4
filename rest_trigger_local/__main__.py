from rest_trigger_local.launcher import main

main()
