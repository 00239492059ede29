"""Write the synthetic, header-faithful open-data samples in this folder.

The column headers copy each portal's published schema; every row is invented
(random points inside the city, values from each portal's vocabulary). Run
from the repository root: ``python tests/data/make_format_samples.py``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
N = 30


def _write(name: str, header: list[str], rows: list[dict], delimiter: str = ",") -> None:
    with open(HERE / name, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})


def main() -> None:
    rnd = random.Random(17)

    def pt(lon0, lat0, d=0.03):
        return round(lon0 + rnd.uniform(-d, d), 6), round(lat0 + rnd.uniform(-d, d), 6)

    # Chicago "Crimes - 2001 to Present"
    types = ["BATTERY", "THEFT", "ROBBERY", "WEAPONS VIOLATION", "NARCOTICS", "BURGLARY"]
    prem = ["STREET", "RESIDENCE", "SIDEWALK", "APARTMENT", "VEHICLE NON-COMMERCIAL"]
    rows = []
    for i in range(N):
        lon, lat = pt(-87.65, 41.85)
        h = rnd.randrange(1, 13)
        rows.append({"ID": 12000000 + i, "Case Number": f"JF{100000 + i}",
                     "Date": f"07/{1 + i % 28:02d}/2023 {h:02d}:{rnd.randrange(60):02d}:00 "
                             f"{'AM' if i % 2 else 'PM'}",
                     "Block": "0000X W MADISON ST", "IUCR": "0486", "Primary Type": types[i % 6],
                     "Description": "SIMPLE", "Location Description": prem[i % 5],
                     "Arrest": "false", "Domestic": "false", "Beat": "0111", "District": "001",
                     "Year": 2023, "Latitude": lat, "Longitude": lon,
                     "Location": f"({lat}, {lon})"})
    _write("chicago_sample.csv", ["ID", "Case Number", "Date", "Block", "IUCR", "Primary Type",
                                  "Description", "Location Description", "Arrest", "Domestic",
                                  "Beat", "District", "Ward", "Community Area", "FBI Code",
                                  "X Coordinate", "Y Coordinate", "Year", "Updated On",
                                  "Latitude", "Longitude", "Location"], rows)

    # NYPD complaint data
    types = ["FELONY ASSAULT", "PETIT LARCENY", "ROBBERY", "DANGEROUS WEAPONS", "BURGLARY"]
    prem = ["STREET", "RESIDENCE - APT. HOUSE", "CHAIN STORE", "TRANSIT - NYC SUBWAY"]
    rows = []
    for i in range(N):
        lon, lat = pt(-73.95, 40.72)
        rows.append({"CMPLNT_NUM": 240000000 + i, "CMPLNT_FR_DT": f"03/{1 + i % 28:02d}/2024",
                     "CMPLNT_FR_TM": f"{(i * 5) % 24:02d}:{(i * 7) % 60:02d}:00",
                     "OFNS_DESC": types[i % 5], "PREM_TYP_DESC": prem[i % 4],
                     "BORO_NM": "BROOKLYN", "SUSP_RACE": "UNKNOWN", "VIC_SEX": "F",
                     "Latitude": lat, "Longitude": lon, "Lat_Lon": f"({lat}, {lon})"})
    _write("nyc_sample.csv", ["CMPLNT_NUM", "CMPLNT_FR_DT", "CMPLNT_FR_TM", "CMPLNT_TO_DT",
                              "CMPLNT_TO_TM", "ADDR_PCT_CD", "RPT_DT", "KY_CD", "OFNS_DESC",
                              "PD_CD", "PD_DESC", "LAW_CAT_CD", "BORO_NM", "LOC_OF_OCCUR_DESC",
                              "PREM_TYP_DESC", "X_COORD_CD", "Y_COORD_CD", "SUSP_AGE_GROUP",
                              "SUSP_RACE", "SUSP_SEX", "Latitude", "Longitude", "Lat_Lon",
                              "VIC_AGE_GROUP", "VIC_RACE", "VIC_SEX"], rows)

    # SFPD incident reports (2018 to present)
    types = ["Larceny Theft", "Assault", "Robbery", "Malicious Mischief", "Drug Offense"]
    rows = []
    for i in range(N):
        lon, lat = pt(-122.42, 37.77, 0.02)
        h = 1 + i % 12
        rows.append({"Incident Datetime": f"2023/05/{1 + i % 28:02d} {h:02d}:15:00 "
                                          f"{'AM' if i % 3 else 'PM'}",
                     "Incident Date": f"2023/05/{1 + i % 28:02d}", "Row ID": 1000 + i,
                     "Incident ID": 2000 + i, "Incident Number": 230000000 + i,
                     "Incident Category": types[i % 5], "Resolution": "Open or Active",
                     "Police District": "Mission", "Latitude": lat, "Longitude": lon,
                     "Point": f"POINT ({lon} {lat})"})
    _write("san_francisco_sample.csv", ["Incident Datetime", "Incident Date", "Incident Time",
                                        "Row ID", "Incident ID", "Incident Number", "CAD Number",
                                        "Incident Category", "Incident Subcategory",
                                        "Incident Description", "Resolution", "Police District",
                                        "Latitude", "Longitude", "Point"], rows)

    # LAPD crime data from 2020
    types = ["BATTERY - SIMPLE ASSAULT", "VEHICLE - STOLEN", "BURGLARY FROM VEHICLE",
             "ROBBERY", "THEFT OF IDENTITY"]
    prem = ["STREET", "SINGLE FAMILY DWELLING", "PARKING LOT", "VEHICLE, PASSENGER/TRUCK"]
    rows = []
    for i in range(N):
        lon, lat = pt(-118.3, 34.05)
        rows.append({"DR_NO": 230100000 + i, "Date Rptd": "06/02/2023 12:00:00 AM",
                     "DATE OCC": f"06/{1 + i % 28:02d}/2023 12:00:00 AM",
                     "TIME OCC": str((i * 137) % 2400 // 100 * 100 + (i * 7) % 60),
                     "AREA NAME": "Central", "Crm Cd Desc": types[i % 5],
                     "Vict Age": 30, "Vict Sex": "M", "Premis Desc": prem[i % 4],
                     "Status Desc": "Invest Cont", "LOCATION": "100 S MAIN ST",
                     "LAT": lat, "LON": lon})
    _write("los_angeles_sample.csv", ["DR_NO", "Date Rptd", "DATE OCC", "TIME OCC", "AREA",
                                      "AREA NAME", "Crm Cd", "Crm Cd Desc", "Vict Age",
                                      "Vict Sex", "Vict Descent", "Premis Cd", "Premis Desc",
                                      "Status", "Status Desc", "LOCATION", "Cross Street",
                                      "LAT", "LON"], rows)

    # Toronto Police major crime indicators
    types = ["Assault", "Break and Enter", "Auto Theft", "Robbery", "Theft Over"]
    prem = ["Outside", "Apartment", "House", "Commercial", "Transit", "Other"]
    rows = []
    for i in range(N):
        lon, lat = pt(-79.38, 43.70)
        rows.append({"_id": i + 1, "EVENT_UNIQUE_ID": f"GO-2023{100000 + i}",
                     "REPORT_DATE": "2023-08-20", "OCC_DATE": f"2023-08-{1 + i % 28:02d}",
                     "OCC_HOUR": (i * 5) % 24, "DIVISION": "D14", "PREMISES_TYPE": prem[i % 6],
                     "MCI_CATEGORY": types[i % 5], "LONG_WGS84": lon, "LAT_WGS84": lat,
                     "x": -8836000 + i, "y": 5420000 + i})
    _write("toronto_sample.csv", ["_id", "EVENT_UNIQUE_ID", "REPORT_DATE", "OCC_DATE",
                                  "OCC_HOUR", "DIVISION", "LOCATION_TYPE", "PREMISES_TYPE",
                                  "OFFENCE", "MCI_CATEGORY", "HOOD_158", "LONG_WGS84",
                                  "LAT_WGS84", "x", "y"], rows)

    # São Paulo SSP dados criminais (semicolon, decimal comma)
    types = ["ROUBO - OUTROS", "FURTO - OUTROS", "HOMICÍDIO DOLOSO", "FURTO DE VEÍCULO"]
    prem = ["Via Pública", "Residência", "Comércio e serviços", "Transporte coletivo"]
    rows = []
    for i in range(N):
        lon, lat = pt(-46.63, -23.55)
        rows.append({"NOME_DELEGACIA": "01º D.P. SE", "CIDADE": "S.PAULO", "ANO_BO": 2023,
                     "NUM_BO": f"AB{1000 + i}", "DATA_OCORRENCIA_BO": f"2023-02-{1 + i % 28:02d}",
                     "HORA_OCORRENCIA_BO": f"{(i * 3) % 24:02d}:30:00",
                     "DESCR_TIPOLOCAL": prem[i % 4], "LOGRADOURO": "RUA DIREITA",
                     "LATITUDE": str(lat).replace(".", ","),
                     "LONGITUDE": str(lon).replace(".", ","), "NATUREZA_APURADA": types[i % 4]})
    _write("sao_paulo_ssp_sample.csv", ["NOME_DELEGACIA", "CIDADE", "ANO_BO", "NUM_BO",
                                        "DATA_OCORRENCIA_BO", "HORA_OCORRENCIA_BO",
                                        "DESCR_TIPOLOCAL", "BAIRRO", "LOGRADOURO",
                                        "NUMERO_LOGRADOURO", "LATITUDE", "LONGITUDE", "RUBRICA",
                                        "NATUREZA_APURADA"], rows, delimiter=";")


if __name__ == "__main__":
    main()
