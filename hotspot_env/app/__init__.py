"""The Streamlit app's support: maps, layers, clicked places, scenarios, uploads, sign-in, audit."""
