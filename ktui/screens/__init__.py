"""The dashboard's screens: presets → hyperparameters → training, plus dialogs."""
