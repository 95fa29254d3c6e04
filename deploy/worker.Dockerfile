# Worker image: Prefect, this library and your flow code. NOT EXERCISED HERE.
FROM python:3.11-slim
WORKDIR /opt/qcsc
COPY constraints.txt ./
COPY packages/qcsc-prefect-qiskit ./packages/qcsc-prefect-qiskit
RUN pip install --no-cache-dir -c constraints.txt ./packages/qcsc-prefect-qiskit
# COPY your flows here, e.g.: COPY flows/ ./flows/
