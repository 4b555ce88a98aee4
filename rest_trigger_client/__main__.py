from rest_trigger_client.cli import main

main()
