from harvester.cli import entry

entry()
