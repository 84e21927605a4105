// placeholder: written after fixtures land
